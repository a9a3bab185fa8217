"""`edgeshrink compress`: make the variants of a model, without any device."""

from .. import render
from . import common
from .options import JsonFlag, ModelChoice


@common.command
def compress(choice: ModelChoice, as_json: JsonFlag = False):
    """Make the variants of a model (cached: unchanged inputs are not compressed twice)."""
    source, variants = common.make_variants(choice)
    if not as_json:
        render.out.print(render.variants_table(variants, "Variants of %s" % source.name))
    return {"model": str(source.path), "variants": [
        {"name": v.name, "path": str(v.path) if v.ok else None, "cached": v.cached, "failure": v.failure,
         "manifest": v.manifest} for v in variants],
        "flags": [dict(flag, variant=v.name) for v in variants for flag in v.flags]}
