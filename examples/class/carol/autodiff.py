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
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__init__: not implemented yet")

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other):
        """self + other: d/dself = 1, d/dother = 1."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__add__: not implemented yet")

    def __radd__(self, other):
        """other + self for a Python number other."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__radd__: not implemented yet")

    def __sub__(self, other):
        """self - other: d/dself = 1, d/dother = -1."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__sub__: not implemented yet")

    def __rsub__(self, other):
        """other - self for a Python number other (``2 - x``): d/dself = -1."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__rsub__: not implemented yet")

    def __mul__(self, other):
        """self * other: d/dself = other, d/dother = self."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__mul__: not implemented yet")

    def __rmul__(self, other):
        """other * self for a Python number other."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__rmul__: not implemented yet")

    def __truediv__(self, other):
        """self / other: d/dself = 1/other, d/dother = -self/other**2."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__truediv__: not implemented yet")

    def __rtruediv__(self, other):
        """other / self for a Python number other (``1 / x``): d/dself = -other/self**2."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__rtruediv__: not implemented yet")

    def __pow__(self, n):
        """self ** n for a Python number n: d/dself = n * self**(n-1) (0 when n == 0)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__pow__: not implemented yet")

    def __neg__(self):
        """-self: d/dself = -1."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.__neg__: not implemented yet")

    # ---------------------------------------------------------------- elementary functions
    def exp(self):
        """e**self: the derivative is e**self."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.exp: not implemented yet")

    def log(self):
        """Natural log of self (self > 0): the derivative is 1/self."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.log: not implemented yet")

    def sin(self):
        """sin(self): the derivative is cos(self)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.sin: not implemented yet")

    def cos(self):
        """cos(self): the derivative is -sin(self)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.cos: not implemented yet")

    def tanh(self):
        """tanh(self) = t: the derivative is 1 - t**2 (of the OUTPUT t, not of self)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.tanh: not implemented yet")

    def sigmoid(self):
        """sigmoid(self) = s = 1 / (1 + e**-self): the derivative is s * (1 - s).

        For self < 0 write s = e**self / (1 + e**self) so that e**-self cannot overflow.
        """
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.sigmoid: not implemented yet")

    def relu(self):
        """max(0, self): the derivative is 1 for self > 0 and 0 for self <= 0 (0 at 0, as torch)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.relu: not implemented yet")

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
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Value.backward: not implemented yet")


class Dual:
    """A dual number ``value + tangent * eps`` (eps**2 = 0), for forward-mode differentiation.

    ``Dual(value, tangent=0.0)``: ``.value`` and ``.tangent``. Each operation returns a new
    Dual whose value is the usual result and whose tangent follows the chain rule, e.g.
    ``(a, a') * (b, b') = (a*b, a'*b + a*b')`` and ``f((a, a')) = (f(a), f'(a) * a')``.
    A Python number ``c`` mixed in is the constant ``(c, 0)``.
    """

    def __init__(self, value, tangent=0.0):
        """``value``, ``tangent``: real numbers (the tangent defaults to 0.0: a constant)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__init__: not implemented yet")

    def __repr__(self) -> str:
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other):
        """(a + b, a' + b')."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__add__: not implemented yet")

    def __radd__(self, other):
        """other + self for a Python number other."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__radd__: not implemented yet")

    def __sub__(self, other):
        """(a - b, a' - b')."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__sub__: not implemented yet")

    def __rsub__(self, other):
        """other - self for a Python number other: (c - a, -a')."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__rsub__: not implemented yet")

    def __mul__(self, other):
        """(a * b, a' * b + a * b')."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__mul__: not implemented yet")

    def __rmul__(self, other):
        """other * self for a Python number other."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__rmul__: not implemented yet")

    def __truediv__(self, other):
        """(a / b, (a' * b - a * b') / b**2)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__truediv__: not implemented yet")

    def __rtruediv__(self, other):
        """other / self for a Python number c: (c / a, -c * a' / a**2)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__rtruediv__: not implemented yet")

    def __pow__(self, n):
        """(a ** n, n * a**(n-1) * a') for a Python number n (tangent 0 when n == 0)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__pow__: not implemented yet")

    def __neg__(self):
        """(-a, -a')."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.__neg__: not implemented yet")

    # ---------------------------------------------------------------- elementary functions
    def exp(self):
        """(e**a, e**a * a')."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.exp: not implemented yet")

    def log(self):
        """(log a, a' / a) for a > 0."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.log: not implemented yet")

    def sin(self):
        """(sin a, cos a * a')."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.sin: not implemented yet")

    def cos(self):
        """(cos a, -sin a * a')."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.cos: not implemented yet")

    def tanh(self):
        """(t, (1 - t**2) * a') with t = tanh a."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.tanh: not implemented yet")

    def sigmoid(self):
        """(s, s * (1 - s) * a') with s = sigmoid a (computed without overflow)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.sigmoid: not implemented yet")

    def relu(self):
        """(max(0, a), a' if a > 0 else 0)."""
        # YOUR CODE HERE
        raise NotImplementedError("autodiff.Dual.relu: not implemented yet")


def reverse_grad(f, xs) -> list[float]:
    """The gradient of ``f`` at the point ``xs`` by reverse mode: ONE call of f, ONE backward.

    ``f(*values)`` takes one Value per number in ``xs`` and returns a Value built from the
    operations above. Wrap each number in a new Value, call f once, call backward() on
    the result, and return ``[x.grad for x in the input Values]`` as Python floats
    (0.0 for an input the result does not depend on).
    """
    # YOUR CODE HERE
    raise NotImplementedError("autodiff.reverse_grad: not implemented yet")


def forward_grad(f, xs) -> list[float]:
    """The gradient of ``f`` at the point ``xs`` by forward mode: one call of f per input.

    ``f(*duals)`` takes one Dual per number in ``xs``. For input i, call f with tangent 1
    on input i and tangent 0 on every other input; the tangent of the result is
    d f / d x_i. Return the n tangents as Python floats. (Seeding every input with 1 at
    once would give the SUM of the partial derivatives, not the gradient.)
    """
    # YOUR CODE HERE
    raise NotImplementedError("autodiff.forward_grad: not implemented yet")
