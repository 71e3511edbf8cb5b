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
    """A scalar node of a computation graph, for reverse-mode differentiation.

    ``Value(data)``: ``.data`` is the number, ``.grad`` starts at 0.0. Every operation
    returns a NEW Value that remembers its parents (the Values it was computed from) and
    how to pass a gradient back to them: either the local derivatives
    d(result)/d(parent), or a small function that does ``parent.grad += local * self.grad``.
    Python numbers mixed in (``x + 2``, ``2 - x``) are constants, not parents.

    ``backward()`` sets the node's own grad to 1 and then, visiting the nodes in REVERSE
    TOPOLOGICAL ORDER (a node only after every node that uses it), adds each node's
    contribution into its parents' grads with ``+=`` (a node used twice, as in ``x * x``,
    must receive both contributions). A second backward() on the same graph is not
    graded.
    """

    def __init__(self, data, _parents=(), _local_grads=()):
        """``data``: a real number. ``.grad`` = 0.0. The optional private arguments are
        for the operations: the parent Values and d(self)/d(parent) for each."""
        value = _number(data)
        if value is None:
            raise ValueError(f"data must be a real number, got {data!r}")
        self.data = value
        self.grad = 0.0
        self._parents = tuple(_parents)
        self._local_grads = tuple(_local_grads)

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other):
        """self + other: d/dself = 1, d/dother = 1."""
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), (1.0, 1.0))
        c = _number(other)
        if c is None:
            return NotImplemented
        return Value(self.data + c, (self,), (1.0,))

    def __radd__(self, other):
        """other + self for a Python number other."""
        return self.__add__(other)

    def __sub__(self, other):
        """self - other: d/dself = 1, d/dother = -1."""
        if isinstance(other, Value):
            return Value(self.data - other.data, (self, other), (1.0, -1.0))
        c = _number(other)
        if c is None:
            return NotImplemented
        return Value(self.data - c, (self,), (1.0,))

    def __rsub__(self, other):
        """other - self for a Python number other (``2 - x``): d/dself = -1."""
        c = _number(other)
        if c is None:
            return NotImplemented
        return Value(c - self.data, (self,), (-1.0,))

    def __mul__(self, other):
        """self * other: d/dself = other, d/dother = self."""
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), (other.data, self.data))
        c = _number(other)
        if c is None:
            return NotImplemented
        return Value(self.data * c, (self,), (c,))

    def __rmul__(self, other):
        """other * self for a Python number other."""
        return self.__mul__(other)

    def __truediv__(self, other):
        """self / other: d/dself = 1/other, d/dother = -self/other**2."""
        if isinstance(other, Value):
            a, b = self.data, other.data
            return Value(a / b, (self, other), (1.0 / b, -a / (b * b)))
        c = _number(other)
        if c is None:
            return NotImplemented
        return Value(self.data / c, (self,), (1.0 / c,))

    def __rtruediv__(self, other):
        """other / self for a Python number other (``1 / x``): d/dself = -other/self**2."""
        c = _number(other)
        if c is None:
            return NotImplemented
        x = self.data
        return Value(c / x, (self,), (-c / (x * x),))

    def __pow__(self, n):
        """self ** n for a Python number n: d/dself = n * self**(n-1) (0 when n == 0)."""
        c = _number(n)
        if c is None:
            return NotImplemented
        x = self.data
        return Value(x**n, (self,), (_pow_derivative(x, n),))

    def __neg__(self):
        """-self: d/dself = -1."""
        return Value(-self.data, (self,), (-1.0,))

    # ---------------------------------------------------------------- elementary functions
    def exp(self):
        """e**self: the derivative is e**self."""
        e = math.exp(self.data)
        return Value(e, (self,), (e,))

    def log(self):
        """Natural log of self (self > 0): the derivative is 1/self."""
        x = self.data
        return Value(math.log(x), (self,), (1.0 / x,))

    def sin(self):
        """sin(self): the derivative is cos(self)."""
        x = self.data
        return Value(math.sin(x), (self,), (math.cos(x),))

    def cos(self):
        """cos(self): the derivative is -sin(self)."""
        x = self.data
        return Value(math.cos(x), (self,), (-math.sin(x),))

    def tanh(self):
        """tanh(self) = t: the derivative is 1 - t**2 (of the OUTPUT t, not of self)."""
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,))

    def sigmoid(self):
        """sigmoid(self) = s = 1 / (1 + e**-self): the derivative is s * (1 - s).

        For self < 0 write s = e**self / (1 + e**self) so that e**-self cannot overflow.
        """
        s = _sigmoid(self.data)
        return Value(s, (self,), (s * (1.0 - s),))

    def relu(self):
        """max(0, self): the derivative is 1 for self > 0 and 0 for self <= 0 (0 at 0, as torch)."""
        x = self.data
        return Value(x if x > 0 else 0.0, (self,), (1.0 if x > 0 else 0.0,))

    # ---------------------------------------------------------------- backward pass
    def backward(self):
        """Fill ``.grad`` of this node (with 1) and of every node it depends on.

        1. Collect the nodes reachable from self in a topological order (every node after
           its parents): a depth-first search that appends a node once all its parents
           are appended. Keep a set of visited nodes so each node appears once.
        2. Set ``self.grad = 1.0``.
        3. For each node in REVERSE order, for each parent: ``parent.grad += local
           derivative * node.grad``.
        Reverse topological order guarantees a node's grad is complete (every use has
        contributed) before it is passed on.
        """
        order = []
        visited = {id(self)}
        stack = [(self, iter(self._parents))]
        while stack:  # iterative post-order DFS: no recursion limit
            node, parents = stack[-1]
            for parent in parents:
                if id(parent) not in visited:
                    visited.add(id(parent))
                    stack.append((parent, iter(parent._parents)))
                    break
            else:
                stack.pop()
                order.append(node)
        self.grad = 1.0
        for node in reversed(order):
            for parent, local in zip(node._parents, node._local_grads):
                parent.grad += local * node.grad


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
