"""Turning each provider's documented example reply (already-decoded JSON) into models.

  ours:     genstatus_sync's converter into the generated attrs models
  pydantic: pydantic v2 models that datamodel-code-generator generates from the same spec,
            into a temporary folder, here and now (`model_validate`)
  dict:     plain dict access to the fields a status needs (state, progress, URLs, error)

Prints the median time per reply in microseconds and the ratios; target: ours <= 1.5x
pydantic. Needs the `bench` extra (pydantic, datamodel-code-generator):

    pip install -e '.[bench]' && python benchmarks/parse.py [--number 2000]
"""

import argparse
import functools
import importlib.util
import statistics
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from genstatus_sync._convert import structure
from genstatus_sync.models import clipia, rivya, sellerpic, sivi

ROOT = Path(__file__).resolve().parent.parent

MODELS = {"sivi": sivi, "rivya": rivya, "sellerpic": sellerpic, "clipia": clipia}


def examples(provider):
    """[(name, top-level schema name, body)] of every 200 reply example in the spec."""
    spec = yaml.safe_load((ROOT / "openapi" / f"{provider}.yaml").read_text(encoding="utf-8"))
    found = []
    for item in spec["paths"].values():
        content = next(iter(item["get"]["responses"]["200"]["content"].values()))
        schema = content["schema"]["$ref"].rsplit("/", 1)[1]
        named = content.get("examples") or {"example": {"value": content.get("example")}}
        for name, example in named.items():
            if example.get("value") is not None:
                found.append((name, schema, example["value"]))
    return found


def pydantic_models(provider, folder):
    """The module datamodel-code-generator writes for the spec, with pydantic v2 output."""
    from datamodel_code_generator import DataModelType, InputFileType, generate
    from datamodel_code_generator.format import PythonVersion

    out = Path(folder) / f"pd_{provider}.py"
    generate(
        ROOT / "openapi" / f"{provider}.yaml",
        input_file_type=InputFileType.OpenAPI,
        output=out,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_310,
        snake_case_field=True,
        strict_nullable=True,
        output_datetime_class="datetime",
        disable_timestamp=True,
        formatters=["builtin"],
        openapi_scopes=["schemas"],
    )
    spec = importlib.util.spec_from_file_location(f"pd_{provider}", out)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the annotations through it
    spec.loader.exec_module(module)
    return module


def dict_access(provider, body):
    """What a status needs, read by hand from the dict (no validation beyond key access)."""
    if provider == "sivi":
        job = body["body"]
        variations = (job.get("result") or {}).get("variations") or []
        return (job["status"], job.get("progress"), job.get("reason"),
                [v.get("variantImageUrl") for v in variations])
    if provider == "rivya":
        result, error = body.get("result") or {}, body.get("error") or {}
        return body["status"], result.get("urls"), error.get("message")
    if provider == "sellerpic":
        items = (body.get("data") or {}).get("resultList") or []
        return [(i.get("status"), i.get("fileUrl"), i.get("errorCode")) for i in items]
    return body.get("status"), body.get("progress"), body.get("queue_position"), body.get(
        "output")


def median_us(call, number, repeat):
    runs = timeit.repeat(call, number=number, repeat=repeat)
    return statistics.median(runs) / number * 1e6


TARGET = 1.5  # ours / pydantic v2, the median over the example replies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per timing run")
    parser.add_argument("--repeat", type=int, default=7, help="timing runs (median taken)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for provider, models in MODELS.items():
            generated = pydantic_models(provider, folder)
            for name, schema, body in examples(provider):
                ours_cls, pd_cls = getattr(models, schema), getattr(generated, schema)
                assert structure(body, ours_cls, provider=provider) is not None
                assert pd_cls.model_validate(body) is not None
                calls = {
                    "ours": functools.partial(structure, body, ours_cls, provider=provider),
                    "pydantic": functools.partial(pd_cls.model_validate, body),
                    "dict": functools.partial(dict_access, provider, body),
                }
                # interleaved: each timing run of one is followed by one of the others
                times = {name: [] for name in calls}
                for _ in range(args.repeat):
                    for kind, call in calls.items():
                        times[kind].append(median_us(call, args.number, 1))
                rows.append((f"{provider} {name}",
                             *(statistics.median(times[k]) for k in ("ours", "pydantic", "dict"))))
    print(f"median us per reply ({args.repeat} runs of {args.number} calls, interleaved)")
    print(f"{'example':<34} {'ours':>7} {'pydantic':>9} {'dict':>6} {'/pydantic':>10} "
          f"{'/dict':>6}")
    for label, ours, pd, plain in rows:
        print(f"{label:<34} {ours:7.2f} {pd:9.2f} {plain:6.2f} {ours / pd:10.2f} "
              f"{ours / plain:6.1f}")
    ratios = [ours / pd for _, ours, pd, _ in rows]
    over = [label for (label, ours, pd, _), ratio in zip(rows, ratios) if ratio > TARGET]
    median = statistics.median(ratios)
    print(f"ours / pydantic: median {median:.2f} (target <= {TARGET}: "
          f"{'YES' if median <= TARGET else 'NO'}), worst {max(ratios):.2f}; "
          f"replies over the target: {', '.join(over) if over else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
