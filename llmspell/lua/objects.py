"""Python classes as Lua objects: one metatable per class and run, each method made once.

    class Counter(LuaObject):
        lua_name = "Counter"

        def __init__(self) -> None:
            self.n = 0

        def add(self, k: Any = None) -> Counter:     -- c:add(2) returns c (chaining)
            self.n += args.integer(k, "Counter:add")
            return self

        def value(self) -> int:
            return self.n

    lua_objects(rt).new(Counter())      -- in Lua: c:add(2):add(1):value() == 3

What a script gets for an instance is a plain Lua table holding only the instance's
``lua_fields()`` (plain data such as ``id`` and ``name``). Its metatable is shared by
every instance of the class in the run and protected (``getmetatable`` answers
``false``, ``setmetatable`` refuses); its ``__index`` is the class's method table. Each
method there is a Lua closure made by our own Lua code (compiled in the prelude's
private environment) around a function from ``Runtime.function``, so:

- no Python object ever reaches Lua: the instance stays in Python, and Lua knows the
  object only through a weak table (object -> number) that scripts cannot reach;
  ``pairs(obj)`` shows the fields, and a method's upvalues are out of reach (the
  sandbox's ``debug`` has no ``getupvalue``);
- the method finds its instance from ``self``: calling it with a dot and no object
  (``obj.m(x)``) or on a foreign table raises ``Type:m: call it as a method, obj:m(...)``;
- errors reach Lua as strings: an ``ApiError`` as its own text, anything unexpected as
  ``Type:m: <why>``.

A method's return value goes back through ``convert.to_lua``; returning the instance
itself gives the script the same Lua object (builders chain), and returning another
``LuaObject`` gives that object's Lua table (made on first use, then the same table), and a
list of them an array of those tables.
Instances live until the run ends.

The public methods of a class are its functions whose names do not start with ``_``;
``lua_names`` renames some for Lua (``{"set_default_error_handler":
"setDefaultErrorHandler"}``). ``install`` puts an instance's methods into a global's
table as dot-call functions named ``Global.f``; ``find`` gives back the instance behind
an object a script passes in (``Hook.unregister(handle)``).
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..run import Slot
from . import convert

if TYPE_CHECKING:
    from .runtime import Runtime

# Compiled once per run in the private environment (``Runtime.eval``).
KIT = """(function()
  local handles = setmetatable({}, { __mode = "k" })
  local kit = {}
  function kit.method(label, name, fn)
    return function(self, ...)
      local handle = handles[self]
      if handle == nil then
        error(label .. ": call it as a method, obj:" .. name .. "(...)", 2)
      end
      return fn(handle, self, ...)
    end
  end
  function kit.class(methods)
    return { __index = methods, __metatable = false }
  end
  function kit.new(fields, handle, mt)
    handles[fields] = handle
    return setmetatable(fields, mt)
  end
  function kit.handle(value)
    return handles[value]
  end
  return kit
end)()"""

RESERVED = frozenset({"lua_fields"})
Obj = TypeVar("Obj", bound="LuaObject")


class LuaObject:
    """Base of the Python classes exposed to Lua (see the module docstring)."""

    lua_name: ClassVar[str] = "Object"
    lua_names: ClassVar[dict[str, str]] = {}

    def lua_fields(self) -> dict[str, Any]:
        """Plain data a script reads with a dot (``wf.name``); empty by default."""
        return {}


def forwarding(helper: str, *names: str,
               takes_value: bool = True) -> Callable[[type[Obj]], type[Obj]]:
    """Class decorator: a public method per name in ``names`` that only calls
    ``self.<helper>(name, value)`` (``takes_value=False``: ``self.<helper>(name)``) --
    one table instead of N one-line methods that differ only by their name."""

    def method_for(name: str) -> Callable[..., Any]:
        if takes_value:
            def method(self: Any, value: Any = None) -> Any:
                return getattr(self, helper)(name, value)
        else:
            def method(self: Any) -> Any:
                return getattr(self, helper)(name)
        method.__name__ = name
        return method

    def decorate(cls: type[Obj]) -> type[Obj]:
        for name in names:
            method = method_for(name)
            method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
        return cls

    return decorate


_METHODS: dict[type, dict[str, str]] = {}


def lua_methods(cls: type) -> dict[str, str]:
    """Lua name -> Python attribute of every public method of ``cls`` (cached)."""
    found = _METHODS.get(cls)
    if found is None:
        found = {}
        for klass in reversed(cls.__mro__):
            if klass in (object, LuaObject):
                continue
            for attr, value in vars(klass).items():
                public = not attr.startswith("_") and attr not in RESERVED
                if not public or not isinstance(value, types.FunctionType):
                    continue
                found[getattr(cls, "lua_names", {}).get(attr, attr)] = attr
        _METHODS[cls] = found
    return found


class Objects:
    """The run's Lua objects: one metatable per class, the instances behind the tables."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._kit = rt.eval(KIT)
        self._classes: dict[type, Any] = {}
        self._instances: dict[int, LuaObject] = {}
        self._tables: dict[int, Any] = {}
        self._handle_of: dict[int, int] = {}
        self._counter = itertools.count(1)

    def new(self, obj: LuaObject) -> Any:
        """The Lua table standing for ``obj`` (made on first call, then the same one)."""
        handle = self._handle_of.get(id(obj))
        if handle is not None:
            return self._tables[handle]
        handle = next(self._counter)
        table = self._kit[b"new"](self._rt.table(obj.lua_fields()), handle,
                                  self._metatable(type(obj)))
        self._instances[handle] = obj
        self._handle_of[id(obj)] = handle
        self._tables[handle] = table
        return table

    def find(self, value: Any, cls: type[Obj]) -> Obj | None:
        """The ``cls`` instance behind a Lua value a script passed in, or None (any other
        value, a look-alike table included)."""
        handle = self._kit[b"handle"](value)
        obj = self._instances.get(handle) if isinstance(handle, int) else None
        return obj if isinstance(obj, cls) else None

    def forget(self, obj: LuaObject) -> None:
        """Drop ``obj``: its Lua table stays, but its methods now fail as foreign."""
        handle = self._handle_of.pop(id(obj), None)
        if handle is not None:
            self._instances.pop(handle, None)
            self._tables.pop(handle, None)

    def install(self, table: Any, obj: LuaObject) -> None:
        """Put ``obj``'s public methods into ``table`` as functions ``Name.f(...)``."""
        for lua_name, attr in lua_methods(type(obj)).items():
            label = f"{obj.lua_name}.{lua_name}"
            table[convert.encode(lua_name)] = self._rt.function(
                self._exporting(getattr(obj, attr), obj, None), label)

    def _metatable(self, cls: type) -> Any:
        mt = self._classes.get(cls)
        if mt is None:
            type_name = getattr(cls, "lua_name", cls.__name__)
            methods = self._rt.table({})
            for lua_name, attr in lua_methods(cls).items():
                label = f"{type_name}:{lua_name}"
                fn = self._rt.function(self._dispatcher(attr), label)
                methods[convert.encode(lua_name)] = self._kit[b"method"](
                    convert.encode(label), convert.encode(lua_name), fn)
            mt = self._classes[cls] = self._kit[b"class"](methods)
        return mt

    def _dispatcher(self, attr: str) -> Callable[..., Any]:
        instances = self._instances

        def call(handle: int, table: Any, *args: Any) -> Any:
            obj = instances[handle]
            return self._export(getattr(obj, attr)(*args), obj, table)

        return call

    def _exporting(self, method: Callable[..., Any], obj: LuaObject,
                   table: Any) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            return self._export(method(*args), obj, table)

        return call

    def _export(self, result: Any, obj: LuaObject, table: Any) -> Any:
        """A method's result for Lua: the instance itself -> its table; another object ->
        that object's table; anything else as it is (the protocol converts it)."""
        if isinstance(result, LuaObject):
            return table if result is obj and table is not None else self.new(result)
        if isinstance(result, convert.LuaMulti):
            return convert.LuaMulti(self._export(item, obj, table) for item in result)
        if isinstance(result, list) and any(isinstance(x, LuaObject) for x in result):
            items = self._rt.table([])  # an array of objects (cfg:get_modifications())
            for i, item in enumerate(result, 1):
                items[i] = (self._export(item, obj, table) if isinstance(item, LuaObject)
                            else convert.to_lua(self._rt.lua, item))
            return items
        return result


OBJECTS: Slot[Objects] = Slot("lua_objects")


def lua_objects(rt: Runtime) -> Objects:
    """The run's ``Objects`` (made on first use)."""
    return rt.services.slot(OBJECTS, lambda: Objects(rt))
