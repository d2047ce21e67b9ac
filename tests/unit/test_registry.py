from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import Field

from jobs.registry import ArgumentsError, JobRegistry, UnknownJobError


def make_registry() -> JobRegistry:
    registry = JobRegistry()

    @registry.job(max_retries=1)
    def resize(path: str, width: Annotated[int, Field(gt=0)], keep_ratio: bool = True) -> None:
        """Resize an image."""

    return registry


def test_arguments_are_validated_and_converted_to_json_ready_values() -> None:
    spec = make_registry().get("resize")
    assert spec.validate(["a.png"], {"width": "300"}) == {
        "path": "a.png",
        "width": 300,
        "keep_ratio": True,
    }


def test_every_bad_field_is_named_in_one_error() -> None:
    spec = make_registry().get("resize")
    with pytest.raises(ArgumentsError) as caught:
        spec.validate([], {"width": -1, "colour": "red"})
    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"path", "width", "colour"}
    assert "resize" in str(caught.value)


def test_too_many_positional_arguments_are_refused() -> None:
    with pytest.raises(ArgumentsError, match="at most 3 positional"):
        make_registry().get("resize").validate(["a", 1, True, "extra"])


def test_an_argument_given_twice_is_refused() -> None:
    with pytest.raises(ArgumentsError, match="both positionally and by name"):
        make_registry().get("resize").validate(["a"], {"path": "b", "width": 1})


def test_an_unknown_job_error_lists_the_registered_jobs() -> None:
    with pytest.raises(UnknownJobError, match="registered jobs: resize"):
        make_registry().get("rotate")


def test_jobs_taking_star_args_cannot_be_registered() -> None:
    registry = JobRegistry()
    with pytest.raises(TypeError, match=r"\*args"):

        @registry.job()
        def anything(*args: Any) -> None: ...


def test_a_job_name_can_be_registered_only_once() -> None:
    registry = make_registry()
    with pytest.raises(ValueError, match="already registered"):

        @registry.job(name="resize")
        def other() -> None: ...


def test_unknown_policy_options_are_refused_at_declaration() -> None:
    with pytest.raises(TypeError, match="retries"):
        JobRegistry().job(retries=3)


def test_parameters_are_described_for_forms_and_the_api() -> None:
    params = make_registry().get("resize").parameters()
    assert [(p["name"], p["type"], p["required"]) for p in params] == [
        ("path", "string", True),
        ("width", "integer", True),
        ("keep_ratio", "boolean", False),
    ]


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity", float("nan")])
def test_a_number_that_is_not_finite_is_refused_naming_its_field(value: Any) -> None:
    registry = JobRegistry()

    @registry.job()
    def wait(seconds: float) -> None:
        """Wait."""

    with pytest.raises(ArgumentsError) as caught:
        registry.get("wait").validate([], {"seconds": value})
    assert [e["field"] for e in caught.value.errors] == ["seconds"]
    assert "finite" in caught.value.errors[0]["message"]
