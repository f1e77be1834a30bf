"""A small, safe expression evaluator for the calculator tool (no Python eval).

Grammar (fasteval-like): ``|| && ! == != < > <= >= + - * / % ^``, unary ``-``/``+``,
parentheses, numbers (``1``, ``2.5``, ``1e3``), variables, and function calls
``name(args)``. Booleans are 1.0 / 0.0. Limits: length, nesting depth, operation count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

MAX_LENGTH = 10_000
MAX_DEPTH = 64
MAX_OPERATIONS = 10_000


class CalcError(ValueError):
    pass


_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                    r"|([A-Za-z_][A-Za-z_0-9]*)|(\|\||&&|==|!=|<=|>=|[-+*/%^()<>!,]))")


def _round(*args: float) -> float:
    if len(args) == 1:
        return float(math.floor(args[0] + 0.5)) if args[0] >= 0 else -math.floor(-args[0] + 0.5)
    modulus, value = args
    if modulus == 0:
        raise CalcError("round: modulus must not be 0")
    return _round(value / modulus) * modulus


def _log(*args: float) -> float:
    if len(args) == 1:
        return math.log10(args[0])
    return math.log(args[1], args[0])


def _sign(x: float) -> float:
    return 0.0 if x == 0 else math.copysign(1.0, x)


FUNCTIONS: dict[str, Callable[..., float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin,
    "acos": math.acos, "atan": math.atan, "sinh": math.sinh, "cosh": math.cosh,
    "tanh": math.tanh, "asinh": math.asinh, "acosh": math.acosh, "atanh": math.atanh,
    "sqrt": math.sqrt, "exp": math.exp, "ln": math.log, "log": _log, "abs": abs,
    "sign": _sign, "int": lambda x: float(math.trunc(x)), "ceil": math.ceil,
    "floor": math.floor, "round": _round, "min": min, "max": max,
    "pi": lambda: math.pi, "e": lambda: math.e,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
FUNCTION_GROUPS = {
    "arithmetic": ["+", "-", "*", "/", "%", "^"],
    "comparison": ["==", "!=", "<", ">", "<=", ">="],
    "logical": ["&&", "||", "!"],
    "trigonometric": ["sin", "cos", "tan", "asin", "acos", "atan"],
    "hyperbolic": ["sinh", "cosh", "tanh", "asinh", "acosh", "atanh"],
    "mathematical": ["sqrt", "exp", "ln", "log", "abs", "sign"],
    "rounding": ["int", "ceil", "floor", "round"],
    "constants": ["pi()", "e()"],
}


def _tokens(text: str) -> list[str]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise CalcError(f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos}")
        out.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    return out


_BINARY = [("||",), ("&&",), ("==", "!=", "<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%")]


class _Parser:
    def __init__(self, tokens: list[str], variables: dict[str, float]) -> None:
        self.t = tokens
        self.i = 0
        self.vars = variables
        self.ops = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise CalcError("unexpected end of expression")
        self.i += 1
        return tok

    def count(self) -> None:
        self.ops += 1
        if self.ops > MAX_OPERATIONS:
            raise CalcError("expression too complex (operation limit)")

    def parse(self) -> float:
        if not self.t:
            raise CalcError("empty expression")
        value = self.binary(0)
        if self.peek() is not None:
            raise CalcError(f"unexpected token {self.peek()!r}")
        return value

    def binary(self, level: int) -> float:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in _BINARY[level]:
            op = self.take()
            right = self.binary(level + 1)
            self.count()
            left = _apply(op, left, right)
        return left

    def unary(self) -> float:
        tok = self.peek()
        if tok in ("-", "+", "!"):
            self.take()
            self.enter()
            value = self.unary()
            self.depth -= 1
            self.count()
            return -value if tok == "-" else (float(value == 0) if tok == "!" else value)
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            self.enter()
            exponent = self.unary()  # right-associative, binds tighter than unary minus left
            self.depth -= 1
            self.count()
            return _apply("^", base, exponent)
        return base

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalcError("expression nested too deeply")

    def atom(self) -> float:
        tok = self.take()
        if tok == "(":
            self.enter()
            value = self.binary(0)
            self.depth -= 1
            if self.take() != ")":
                raise CalcError("expected ')'")
            return value
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok)
        if tok[0].isalpha() or tok[0] == "_":
            if self.peek() == "(":
                return self.call(tok)
            if tok in self.vars:
                return self.vars[tok]
            if tok in CONSTANTS:
                return CONSTANTS[tok]
            raise CalcError(f"unknown variable '{tok}'")
        raise CalcError(f"unexpected token {tok!r}")

    def call(self, name: str) -> float:
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise CalcError(f"unknown function '{name}'")
        self.take()
        self.enter()
        args: list[float] = []
        if self.peek() != ")":
            args.append(self.binary(0))
            while self.peek() == ",":
                self.take()
                args.append(self.binary(0))
        if self.take() != ")":
            raise CalcError("expected ')'")
        self.depth -= 1
        self.count()
        try:
            return float(fn(*args))
        except TypeError:
            raise CalcError(f"wrong number of arguments for {name}()") from None
        except ValueError:
            return math.nan
        except OverflowError:
            return math.inf


def _apply(op: str, a: float, b: float) -> float:
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                return math.nan if a == 0 or a != a else math.copysign(math.inf, a)
            return a / b
        if op == "%":
            return math.nan if b == 0 else math.fmod(a, b)
        if op == "^":
            result = a ** b
            return math.nan if isinstance(result, complex) else float(result)
    except OverflowError:
        return math.inf
    except ZeroDivisionError:
        return math.inf
    if op == "==":
        return float(a == b)
    if op == "!=":
        return float(a != b)
    if op == "<":
        return float(a < b)
    if op == ">":
        return float(a > b)
    if op == "<=":
        return float(a <= b)
    if op == ">=":
        return float(a >= b)
    if op == "&&":
        return float(a != 0 and b != 0)
    if op == "||":
        return float(a != 0 or b != 0)
    raise CalcError(f"unknown operator {op}")


def evaluate(expression: str, variables: dict[str, float] | None = None) -> float:
    if len(expression) > MAX_LENGTH:
        raise CalcError(f"expression too long (max {MAX_LENGTH} characters)")
    return _Parser(_tokens(expression), variables or {}).parse()
