"""Automatic differentiation on scalars, by hand: reverse mode (Value) and forward mode (Dual).

Both classes wrap one Python float and overload the operators, so an ordinary Python
function such as ``f(x1, x2) = x1*x2 + exp(x1*x2) - sin(x2)`` written with them computes
its value and, at the same time, what is needed for its derivatives:

* Reverse mode (:class:`Value`) records a graph: every result remembers the nodes it was
  computed from and the local derivative with respect to each. ``out.backward()`` then
  walks the graph once, from the output back to the inputs, applying the chain rule:
  a node's gradient ``d out / d node`` is the SUM over all its uses of
  (gradient of the result) * (local derivative). One backward pass gives the
  derivative with respect to every input at once.
* Forward mode (:class:`Dual`) carries a tangent next to every value:
  ``(a, a') op (b, b') = (a op b, derivative of a op b along the tangents)``.
  One forward pass gives the derivative along ONE direction, so the gradient of a
  function of n inputs takes n passes, each seeding one input with tangent 1 and the
  others with 0.

Operations, for both classes: ``+ - * /`` between two objects or with a Python number on
either side (``x + 2``, ``2 - x``, ``1 / x``), ``x ** n`` for a Python number ``n``,
unary ``-x``, and the methods ``.exp() .log() .sin() .cos() .tanh() .sigmoid() .relu()``.
Derivatives follow torch autograd; in particular the derivative of ReLU at 0 is 0.
Python numbers are constants: they get no gradient (reverse mode) and tangent 0
(forward mode). Use the ``math`` module for the scalar maths (math.exp, math.log, ...);
torch is not needed here and autograd is not allowed.

Graphs of depth up to 500 (a chain of 500 operations) must work, so mind Python's
recursion limit (about 1000 nested calls) if you build the topological order
recursively; a loop with an explicit stack never hits it.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["Value", "Dual", "reverse_grad", "forward_grad"]


def _number(x):
    """x as a float if it is a real Python number (bool excluded), else None."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return None
    return float(x)


def _sigmoid(x: float) -> float:
    # exp of a non-positive number never overflows
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _pow_derivative(x: float, n: float) -> float:
    # torch: the derivative of x ** 0 is 0 everywhere (also at x = 0)
    return 0.0 if n == 0 else n * x ** (n - 1)


class Value:
    """micrograd style: closures for the backward steps, recursive topological sort."""

    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad = out.grad
            other.grad = out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad = other.data * out.grad
            other.grad = self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other):
        assert isinstance(other, (int, float)), "only int/float powers"
        out = Value(self.data**other, (self,), f"**{other}")

        def _backward():
            self.grad = other * self.data ** (other - 1) * out.grad

        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad = out.data * out.grad

        out._backward = _backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad = (1 / self.data) * out.grad

        out._backward = _backward
        return out

    def sin(self):
        out = Value(math.sin(self.data), (self,), "sin")

        def _backward():
            self.grad = math.cos(self.data) * out.grad

        out._backward = _backward
        return out

    def cos(self):
        out = Value(math.cos(self.data), (self,), "cos")

        def _backward():
            self.grad = -math.sin(self.data) * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad = (1 - t**2) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self):
        x = self.data
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        out = Value(s, (self,), "sigmoid")

        def _backward():
            self.grad = s * (1 - s) * out.grad

        out._backward = _backward
        return out

    def relu(self):
        out = Value(0.0 if self.data < 0 else self.data, (self,), "relu")

        def _backward():
            self.grad = (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        topo = []
        visited = set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other**-1

    def __rtruediv__(self, other):
        return other * self**-1

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"


class Dual:
    """A dual number ``value + tangent * eps`` (eps**2 = 0), for forward-mode differentiation.

    ``Dual(value, tangent=0.0)``: ``.value`` and ``.tangent``. Each operation returns a new
    Dual whose value is the usual result and whose tangent follows the chain rule, e.g.
    ``(a, a') * (b, b') = (a*b, a'*b + a*b')`` and ``f((a, a')) = (f(a), f'(a) * a')``.
    A Python number ``c`` mixed in is the constant ``(c, 0)``.
    """

    def __init__(self, value, tangent=0.0):
        """``value``, ``tangent``: real numbers (the tangent defaults to 0.0: a constant)."""
        v, t = _number(value), _number(tangent)
        if v is None:
            raise ValueError(f"value must be a real number, got {value!r}")
        if t is None:
            raise ValueError(f"tangent must be a real number, got {tangent!r}")
        self.value = v
        self.tangent = t

    def __repr__(self) -> str:
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other):
        """(a + b, a' + b')."""
        if isinstance(other, Dual):
            return Dual(self.value + other.value, self.tangent + other.tangent)
        c = _number(other)
        if c is None:
            return NotImplemented
        return Dual(self.value + c, self.tangent)

    def __radd__(self, other):
        """other + self for a Python number other."""
        return self.__add__(other)

    def __sub__(self, other):
        """(a - b, a' - b')."""
        if isinstance(other, Dual):
            return Dual(self.value - other.value, self.tangent - other.tangent)
        c = _number(other)
        if c is None:
            return NotImplemented
        return Dual(self.value - c, self.tangent)

    def __rsub__(self, other):
        """other - self for a Python number other: (c - a, -a')."""
        c = _number(other)
        if c is None:
            return NotImplemented
        return Dual(c - self.value, -self.tangent)

    def __mul__(self, other):
        """(a * b, a' * b + a * b')."""
        if isinstance(other, Dual):
            return Dual(self.value * other.value,
                        self.tangent * other.value + self.value * other.tangent)
        c = _number(other)
        if c is None:
            return NotImplemented
        return Dual(self.value * c, self.tangent * c)

    def __rmul__(self, other):
        """other * self for a Python number other."""
        return self.__mul__(other)

    def __truediv__(self, other):
        """(a / b, (a' * b - a * b') / b**2)."""
        if isinstance(other, Dual):
            a, b = self.value, other.value
            return Dual(a / b, (self.tangent * b - a * other.tangent) / (b * b))
        c = _number(other)
        if c is None:
            return NotImplemented
        return Dual(self.value / c, self.tangent / c)

    def __rtruediv__(self, other):
        """other / self for a Python number c: (c / a, -c * a' / a**2)."""
        c = _number(other)
        if c is None:
            return NotImplemented
        a = self.value
        return Dual(c / a, -c * self.tangent / (a * a))

    def __pow__(self, n):
        """(a ** n, n * a**(n-1) * a') for a Python number n (tangent 0 when n == 0)."""
        c = _number(n)
        if c is None:
            return NotImplemented
        a = self.value
        return Dual(a**n, _pow_derivative(a, n) * self.tangent)

    def __neg__(self):
        """(-a, -a')."""
        return Dual(-self.value, -self.tangent)

    # ---------------------------------------------------------------- elementary functions
    def exp(self):
        """(e**a, e**a * a')."""
        e = math.exp(self.value)
        return Dual(e, e * self.tangent)

    def log(self):
        """(log a, a' / a) for a > 0."""
        a = self.value
        return Dual(math.log(a), self.tangent / a)

    def sin(self):
        """(sin a, cos a * a')."""
        a = self.value
        return Dual(math.sin(a), math.cos(a) * self.tangent)

    def cos(self):
        """(cos a, -sin a * a')."""
        a = self.value
        return Dual(math.cos(a), -math.sin(a) * self.tangent)

    def tanh(self):
        """(t, (1 - t**2) * a') with t = tanh a."""
        t = math.tanh(self.value)
        return Dual(t, (1.0 - t * t) * self.tangent)

    def sigmoid(self):
        """(s, s * (1 - s) * a') with s = sigmoid a (computed without overflow)."""
        s = _sigmoid(self.value)
        return Dual(s, s * (1.0 - s) * self.tangent)

    def relu(self):
        """(max(0, a), a' if a > 0 else 0)."""
        a = self.value
        return Dual(a if a > 0 else 0.0, self.tangent if a > 0 else 0.0)


def reverse_grad(f, xs) -> list[float]:
    """The gradient of ``f`` at the point ``xs`` by reverse mode: ONE call of f, ONE backward.

    ``f(*values)`` takes one Value per number in ``xs`` and returns a Value built from the
    operations above. Wrap each number in a new Value, call f once, call backward() on
    the result, and return ``[x.grad for x in the input Values]`` as Python floats
    (0.0 for an input the result does not depend on).
    """
    inputs = [Value(x) for x in xs]
    out = f(*inputs)
    if not isinstance(out, Value):  # a constant function
        return [0.0 for _ in inputs]
    out.backward()
    return [float(v.grad) for v in inputs]


def forward_grad(f, xs) -> list[float]:
    """The gradient of ``f`` at the point ``xs`` by forward mode: one call of f per input.

    ``f(*duals)`` takes one Dual per number in ``xs``. For input i, call f with tangent 1
    on input i and tangent 0 on every other input; the tangent of the result is
    d f / d x_i. Return the n tangents as Python floats. (Seeding every input with 1 at
    once would give the SUM of the partial derivatives, not the gradient.)
    """
    grads = []
    for i in range(len(xs)):
        out = f(*[Dual(x, 1.0 if j == i else 0.0) for j, x in enumerate(xs)])
        grads.append(float(out.tangent) if isinstance(out, Dual) else 0.0)
    return grads
