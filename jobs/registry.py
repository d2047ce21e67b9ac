"""Declaring jobs: a function, its parameters, its queue and its retry policy.

A :class:`JobRegistry` is declarative, like a Flask blueprint: decorating a
function records a :class:`JobSpec`; the Celery app factory turns every spec of
the registries it is given into a task.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from jobs.errors import Invalid, NotFound
from jobs.policies import POLICY_FIELDS


class ArgumentsError(Invalid):
    """Arguments that do not fit a job's parameters; ``errors`` name each field."""

    def __init__(self, job: str, errors: list[dict[str, str]]):
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(errors, f"invalid arguments for job {job!r}: {detail}")
        self.job = job


class UnknownJobError(NotFound):
    def __init__(self, name: str, known: Sequence[str]):
        super().__init__(f"unknown job {name!r}; registered jobs: {', '.join(sorted(known))}")
        self.name = name


def _params_model(name: str, func: Callable[..., Any]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for param in inspect.signature(func, eval_str=True).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"job {name!r}: *args/**kwargs cannot be validated; name each one")
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    model: type[BaseModel] = create_model(
        f"{name}_params",
        # A NaN or infinite number is never what a job means: refused, naming the field.
        __config__=ConfigDict(extra="forbid", strict=False, allow_inf_nan=False),
        **fields,
    )
    return model


def _type_name(prop: dict[str, Any]) -> str:
    if "type" in prop:
        return str(prop["type"])
    options = [p.get("type") for p in prop.get("anyOf", []) if p.get("type") != "null"]
    return str(options[0]) if len(options) == 1 and options[0] else "any"


@dataclass(frozen=True)
class JobSpec:
    """A registered job: what the API validates against and the worker runs."""

    name: str
    func: Callable[..., Any]
    queue: str | None
    policy_overrides: dict[str, Any]
    params: type[BaseModel]
    description: str = ""
    signature: inspect.Signature = field(repr=False, default=inspect.Signature())

    def validate(
        self, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Bind and validate arguments; return JSON-ready keyword arguments.

        Raises :class:`ArgumentsError` naming every field that does not fit.
        """
        kwargs = dict(kwargs or {})
        names = list(self.signature.parameters)
        if len(args) > len(names):
            raise ArgumentsError(
                self.name,
                [
                    {
                        "field": "args",
                        "message": f"takes at most {len(names)} positional "
                        f"arguments ({', '.join(names) or 'none'}), got {len(args)}",
                    }
                ],
            )
        for pname, value in zip(names, args, strict=False):
            if pname in kwargs:
                raise ArgumentsError(
                    self.name, [{"field": pname, "message": "given both positionally and by name"}]
                )
            kwargs[pname] = value
        try:
            model = self.params.model_validate(kwargs)
        except ValidationError as exc:
            raise ArgumentsError(
                self.name,
                [
                    {
                        "field": ".".join(str(p) for p in err["loc"]) or "kwargs",
                        "message": err["msg"],
                    }
                    for err in exc.errors()
                ],
            ) from None
        return model.model_dump(mode="json")

    def call(self, kwargs: dict[str, Any]) -> Any:
        """Run the function with typed values (the worker re-validates what came off the wire)."""
        model = self.params.model_validate(kwargs)
        return self.func(**{name: getattr(model, name) for name in self.signature.parameters})

    def parameters(self) -> list[dict[str, Any]]:
        """Parameter names, JSON-schema types, defaults and whether required, for API and UI."""
        schema = self.params.model_json_schema()
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        out = []
        for pname, prop in props.items():
            out.append(
                {
                    "name": pname,
                    "type": _type_name(prop),
                    "required": pname in required,
                    "default": prop.get("default"),
                    "schema": prop,
                }
            )
        return out


class JobRegistry:
    """A collection of job declarations (decorate functions with :meth:`job`)."""

    def __init__(self) -> None:
        self._specs: dict[str, JobSpec] = {}
        self._schedules: dict[str, dict[str, Any]] = {}

    def schedule(self, name: str, job: str, **fields: Any) -> None:
        """Declare a schedule in code next to its job (synced into the store at beat start).

        ``fields`` are those of :class:`jobs.schedules.definition.ScheduleDefinition`, e.g.
        ``cron="0 3 * * *", timezone="Europe/Paris", kwargs={...}``.
        """
        if name in self._schedules:
            raise ValueError(f"schedule {name!r} is already declared")
        if "trigger" not in fields:
            kinds = [
                k
                for k, f in (("cron", "cron"), ("interval", "interval_seconds"), ("once", "run_at"))
                if f in fields
            ]
            fields["trigger"] = kinds[0] if len(kinds) == 1 else "cron"
        self._schedules[name] = {"name": name, "job": job, **fields}

    @property
    def schedules(self) -> list[dict[str, Any]]:
        return list(self._schedules.values())

    def job(
        self,
        name: str | None = None,
        *,
        queue: str | None = None,
        **policy: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a function as a job; ``policy`` keys override the default retry policy."""
        unknown = set(policy) - POLICY_FIELDS
        if unknown:
            raise TypeError(f"unknown retry policy option(s): {', '.join(sorted(unknown))}")

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            job_name = name or func.__name__
            if job_name in self._specs:
                raise ValueError(f"job {job_name!r} is already registered")
            self._specs[job_name] = JobSpec(
                name=job_name,
                func=func,
                queue=queue,
                policy_overrides=dict(policy),
                params=_params_model(job_name, func),
                description=inspect.getdoc(func) or "",
                signature=inspect.signature(func, eval_str=True),
            )
            return func

        return decorate

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> JobSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownJobError(name, list(self._specs)) from None

    def merge(self, *others: JobRegistry) -> JobRegistry:
        merged = JobRegistry()
        for registry in (self, *others):
            for spec in registry:
                if spec.name in merged._specs:
                    raise ValueError(f"job {spec.name!r} is registered twice")
                merged._specs[spec.name] = spec
            for declared in registry.schedules:
                if declared["name"] in merged._schedules:
                    raise ValueError(f"schedule {declared['name']!r} is declared twice")
                merged._schedules[declared["name"]] = declared
        return merged
