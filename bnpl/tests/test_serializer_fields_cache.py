"""bnpl.serializers.CachedFieldsMixin: the fields DRF would build, built once, never shared."""
from rest_framework import serializers

from bnpl.api_fields import MoneyField
from bnpl.serializers import CachedFieldsMixin


class _Item(serializers.Serializer):
    name = serializers.CharField()
    amount = MoneyField()


class _Plain(serializers.Serializer):
    id = serializers.IntegerField()
    tags = serializers.ListField(child=serializers.CharField())
    items = _Item(many=True)
    who = serializers.SerializerMethodField()

    def get_who(self, obj):
        return self.context["who"]


class _Cached(CachedFieldsMixin, _Plain):
    pass


OBJ = {"id": 7, "tags": ["a", "b"], "items": [{"name": "x", "amount": 12345}]}


def test_cached_fields_give_the_same_output_and_field_kinds_as_drf():
    plain, cached = _Plain(OBJ, context={"who": "p"}), _Cached(OBJ, context={"who": "p"})
    assert cached.data == plain.data == {"id": 7, "tags": ["a", "b"], "items": [{"name": "x", "amount": "123.45"}],
                                         "who": "p"}
    assert [(n, type(f), f.source) for n, f in cached.fields.items()] == \
        [(n, type(f), f.source) for n, f in plain.fields.items()]


def test_each_instance_binds_its_own_copies_so_context_never_leaks():
    first, second = _Cached(OBJ, context={"who": "first"}), _Cached(OBJ, context={"who": "second"})
    assert first.data["who"] == "first" and second.data["who"] == "second"
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
    assert first.fields["items"].child is not second.fields["items"].child
    assert first.fields["tags"].child is not second.fields["tags"].child
    assert "_prototype_fields" in _Cached.__dict__ and "_prototype_fields" not in _Plain.__dict__
    assert all(f.parent is None for f in _Cached._prototype_fields.values())
