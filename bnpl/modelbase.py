"""The abstract base of this project's models: a row becomes an instance without ``Model.__init__``.

``Model.from_db`` is Django's documented hook for customizing how a row is loaded. Django's own
calls ``Model.__init__``, which sends ``pre_init`` and ``post_init`` and stores every column through
``setattr`` (a descriptor call for each foreign key): on a read of a plan and its twelve
installments that is a tenth of the request's Python, and a fifth of a page of customers
(bench/RESULTS.md, "Request path, fourth pass").
"""
from django.db import models
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

# (model, the loaded columns as a query lists them) -> those columns in the concrete fields' order.
_DEFERRED_SHAPES: dict[tuple[type, tuple[str, ...]], tuple[str, ...]] = {}


def _plain_columns(model: type[models.Model]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The attnames of ``model``'s concrete fields, in order, if storing each one is only a write
    into the instance's ``__dict__`` (else ``()``), and those of its foreign keys.

    ``DeferredAttribute`` has no ``__set__``. ``ForeignKeyDeferredAttribute.__set__`` looks for a
    cached related object to drop (which creates the instance's empty ``_state.fields_cache``), and
    a fresh instance has none. Any other descriptor (a field type of a later change) could do more,
    so such a model keeps Django's ``from_db``.
    """
    attnames, foreign_keys = [], set()
    for field in model._meta.concrete_fields:
        descriptor = type(getattr(model, field.attname, None))
        if descriptor is ForeignKeyDeferredAttribute:
            foreign_keys.add(field.attname)
        elif descriptor is not DeferredAttribute:
            return (), frozenset()
        attnames.append(field.attname)
    return tuple(attnames), frozenset(foreign_keys)


class Model(models.Model):
    """``from_db`` builds the instance ``Model.__init__`` builds for a row, directly.

    That is: ``_state`` set first, with ``adding`` False and ``db`` the alias, then each loaded
    column's value under its attname in ``__dict__``, in the order of the concrete fields (a
    deferred column absent). Django's own ``from_db`` is used when a ``pre_init`` or ``post_init``
    receiver is connected (nothing of ours connects one; a test or a library might), or when a
    field stores itself through a descriptor of its own. ``bnpl/tests/test_modelbase.py`` holds
    the two equal for every model.
    """

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        columns = cls.__dict__.get("_row_columns")
        if columns is None:
            columns = cls._row_columns = _plain_columns(cls)  # a race only computes it twice
        attnames, foreign_keys = columns
        if not attnames or pre_init.receivers or post_init.receivers:
            return super().from_db(db, field_names, values)
        new = cls.__new__(cls)
        state = new._state = ModelState()
        if len(values) == len(attnames):
            loaded = attnames
        else:  # deferred columns: the values come in the concrete fields' order, as Django reads them
            shape = tuple(field_names)
            loaded = _DEFERRED_SHAPES.get((cls, shape))
            if loaded is None:  # one per .only()/.defer() in the code: a handful
                loaded = _DEFERRED_SHAPES[cls, shape] = tuple([name for name in attnames if name in shape])
        if foreign_keys and (loaded is attnames or not foreign_keys.isdisjoint(loaded)):
            state.fields_cache = {}
        state.adding = False
        state.db = db
        new.__dict__.update(zip(loaded, values, strict=True))
        return new
