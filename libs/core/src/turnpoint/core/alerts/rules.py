"""The rules file (SPEC §6): YAML, validated strictly; every error names the file and the line.

```yaml
rules:
  - name: plant-outliers
    kind: outlier
    match: "plant*/people"
    webhook: http://127.0.0.1:9999/hook
```
`match` is a shell-style glob (`fnmatch`, case-sensitive) over the whole subject; `*` also crosses `/`,
so `plant*` matches `plant0/people`. A `RuleBook` keeps the file's rules and reloads them when the file
changes (modification time and size), so a running service picks up an edited file without a restart.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from turnpoint.core.alerts.model import Kind
from turnpoint.core.contracts import GType
from turnpoint.core.errors import ConfigurationError

Format = Literal["json", "slack", "teams"]


class Rule(BaseModel):
    """One rule; kind-specific fields are ignored by the other kinds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    match: str = Field(default="*", min_length=1)
    webhook: str = Field(pattern=r"^https?://\S+$")
    format: Format = "json"
    direction: Literal["high", "low", "any"] = "any"
    gtype: GType | Literal["any"] = "close"
    min_pct: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    max_age_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    min_count: int = Field(default=1, ge=1)
    window_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    cooldown_s: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    timeout_s: float = Field(default=5.0, gt=0, le=300)

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        fnmatch.translate(value)
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> Rule:
        if self.kind == "stale" and self.max_age_s is None:
            msg = "a stale rule needs max_age_s (seconds since the job's last success)"
            raise ValueError(msg)
        return self

    def matches(self, subject: str) -> bool:
        return fnmatch.fnmatchcase(subject, self.match)


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> RulesFile:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                msg = f"rule name {rule.name!r} is used twice; names must be unique"
                raise ValueError(msg)
            seen.add(rule.name)
        return self

    def by_name(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def of_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind]


class RulesError(ConfigurationError):
    """A rules file that cannot be used: `path`, `line` (1-based, None when unknown) and what is wrong."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = path, line, problem


def parse_rules(text: str, path: str = "<rules>") -> RulesFile:
    """Validate a rules document; RulesError names the line of the first problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RulesError(path, mark.line + 1 if mark else None, f"not YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise RulesError(path, None, f"not YAML: {exc}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise RulesError(path, 1, "the file must be a mapping with a 'rules' list")
    try:
        return RulesFile.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "rules"
        raise RulesError(path, _line_of(node, loc), f"{where}: {err['msg']}") from None


def load_rules(path: str | os.PathLike[str]) -> RulesFile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(str(p), None, f"cannot read the rules file: {exc}") from None
    return parse_rules(text, str(p))


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `loc` (or of its nearest existing parent)."""
    if node is None:
        return None
    best: int = int(node.start_mark.line) + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == part:
                    child = v if not isinstance(v, yaml.ScalarNode) else k
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        best = int(node.start_mark.line) + 1
    return best


@dataclass
class RuleBook:
    """The rules of a file, reloaded when the file changes; a broken edit keeps the last good rules."""

    path: Path | None
    rules: RulesFile = field(default_factory=RulesFile)
    error: str | None = None
    _stamp: tuple[int, int] | None = None

    @classmethod
    def of(cls, rules: RulesFile) -> RuleBook:
        return cls(None, rules)

    def current(self) -> RulesFile:
        """The rules now (reloads when the file's mtime or size changed)."""
        if self.path is None:
            return self.rules
        try:
            st = self.path.stat()
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror}"
            return self.rules
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                self.rules = load_rules(self.path)
                self.error = None
            except RulesError as exc:
                self.error = str(exc)
            self._stamp = stamp
        return self.rules
