"""Multivariate experiments: factors declared over a base variant's parameters, and their combinations as variants.

An editor declares, on an experiment, a base variant of the slot and a few factors, each a
parameter of the base variant's micro-template with its levels (the first is the baseline):
``headline: Save 10% | Free shipping``. ``experiment_combinations_generate`` turns every
combination into a variant of the slot (the base variant's parameters with the levels set),
published as a new slot revision through ``content.services``, and makes those variants the
experiment's arms, the all-baseline combination first. Keys come from the levels
(``combinations_from_factors``), so generating again adds only the new combinations.

The experiment's ``factors`` JSON holds ``{"base": <variant key>, "factors": [{"name", "levels"}],
"generated": {"factors": [...], "combinations": [{"key", "levels"}]}}``: what the editor declared
and what was last generated, which is what the experiment serves and its results analyse.
Lists, not objects, keep the factors' order (PostgreSQL's jsonb does not keep keys' order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.html import format_html

from content.services import SlotEditError, slot_variants_add

from .engine.statistics.factorial import MAX_COMBINATIONS, Combination, ParamValue, combinations_from_factors

LEVEL_SEPARATOR = "|"


class CombinationsError(Exception):
    """The combinations cannot be generated now; the message says why, in the editor's words."""


@dataclass(frozen=True, slots=True)
class Factor:
    name: str
    levels: tuple[ParamValue, ...]


@dataclass(frozen=True, slots=True)
class Design:
    """An experiment's multivariate declaration, and what was generated from it last."""

    base: str
    factors: tuple[Factor, ...]
    generated: tuple[Factor, ...] = ()
    combinations: tuple[tuple[str, dict[str, ParamValue]], ...] = ()  # (variant key, levels), as generated

    def as_mapping(self) -> dict[str, list[ParamValue]]:
        return {factor.name: list(factor.levels) for factor in self.factors}

    def generated_mapping(self) -> dict[str, list[ParamValue]]:
        return {factor.name: list(factor.levels) for factor in self.generated}


def _factors_from_json(value: Any) -> tuple[Factor, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        Factor(str(item["name"]), tuple(item["levels"]))
        for item in value
        if isinstance(item, Mapping) and "name" in item and isinstance(item.get("levels"), list)
    )


def _factors_to_json(factors: Sequence[Factor]) -> list[dict[str, Any]]:
    return [{"name": factor.name, "levels": list(factor.levels)} for factor in factors]


def design_from_json(value: Any) -> Design | None:
    """The design stored in ``Experiment.factors``, or None for a plain A/B/n experiment."""
    if not isinstance(value, Mapping) or not value.get("factors"):
        return None
    stored = value.get("generated")
    generated: Mapping[str, Any] = stored if isinstance(stored, Mapping) else {}
    combinations = tuple(
        (str(item["key"]), dict(item["levels"]))
        for item in generated.get("combinations") or ()
        if isinstance(item, Mapping) and isinstance(item.get("levels"), Mapping)
    )
    return Design(
        base=str(value.get("base") or ""),
        factors=_factors_from_json(value.get("factors")),
        generated=_factors_from_json(generated.get("factors")),
        combinations=combinations,
    )


def design_to_json(design: Design | None) -> dict[str, Any] | list[Any]:
    if design is None:
        return []
    stored: dict[str, Any] = {"base": design.base, "factors": _factors_to_json(design.factors)}
    if design.combinations:
        stored["generated"] = {
            "factors": _factors_to_json(design.generated),
            "combinations": [{"key": key, "levels": levels} for key, levels in design.combinations],
        }
    return stored


def _split_levels(text: str) -> list[str]:
    """Levels separated by "|", except inside braces: a placeholder such as {visitor.first_name|there} stays whole."""
    levels: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        if char == LEVEL_SEPARATOR and depth == 0:
            levels.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    levels.append("".join(current).strip())
    return levels


def factors_parse(text: str) -> tuple[list[Factor], list[str]]:
    """Factors from the editor's lines ``name: level | level``; and a message per line that is wrong."""
    factors: list[Factor] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, rest = line.partition(":")
        name = name.strip()
        if not colon or not name:
            problems.append(f"Line {number}: write a parameter name, a colon, then its levels, e.g. “headline: A | B”.")
            continue
        if name in seen:
            problems.append(f"Line {number}: “{name}” is declared twice; give each parameter one line.")
            continue
        seen.add(name)
        levels = _split_levels(rest)
        if any(not level for level in levels):
            problems.append(f"Line {number} ({name}): a level is empty; separate levels with “|”.")
            continue
        if len(levels) < 2:
            problems.append(f"Line {number} ({name}): give at least two levels separated by “|”, the baseline first.")
            continue
        repeated = next((level for level in levels if levels.count(level) > 1), None)
        if repeated is not None:
            problems.append(f"Line {number} ({name}): the level “{repeated}” is listed twice.")
            continue
        factors.append(Factor(name, tuple(levels)))
    return factors, problems


def factors_format(factors: Sequence[Factor]) -> str:
    return "\n".join(
        f"{factor.name}: " + f" {LEVEL_SEPARATOR} ".join(str(level) for level in factor.levels) for factor in factors
    )


def _template_block(template_key: str) -> Any:
    from content.fields import MicroTemplateField
    from content.models import Variant

    field = Variant._meta.get_field("params")
    assert isinstance(field, MicroTemplateField)  # noqa: S101 - a programming error, not input
    return field.stream_block.child_blocks.get(template_key)


def factors_check(base: Any, factors: Sequence[Factor]) -> tuple[list[Factor], list[str]]:
    """The factors typed for the base variant's micro-template (an image level is an image id), and what is wrong.

    Each level is checked by the micro-template's own block, as the variant editor checks a
    value (a headline's length, a link's scheme, a layout's choices).
    """
    from django.core.exceptions import ValidationError

    raw = list(base.params.raw_data)
    if not raw:
        return [], [f"The base variant “{base.key}” has no micro-template parameters."]
    template_key, base_value = raw[0]["type"], dict(raw[0]["value"])
    block = _template_block(template_key)
    if block is None:
        return [], [f"The base variant “{base.key}” uses the micro-template “{template_key}”, which is not configured."]
    fields = list(block.child_blocks)
    typed: list[Factor] = []
    problems: list[str] = []
    for factor in factors:
        if factor.name not in fields:
            problems.append(
                f"“{factor.name}” is not a parameter of the base variant's micro-template ({template_key});"
                f" its parameters: {', '.join(fields)}."
            )
            continue
        levels: list[ParamValue] = []
        for level in factor.levels:
            value: ParamValue = level
            if factor.name == "image":
                try:
                    value = int(str(level))
                except ValueError:
                    problems.append(f"image: “{level}” is not an image id (a number, as in the image's admin URL).")
                    continue
            candidate = _param_value(factor.name, value)
            try:
                child = block.child_blocks[factor.name]
                if factor.name == "image" and child.to_python(candidate) is None:
                    raise ValidationError(f"no image has the id {value}")
                child.clean(child.to_python(candidate))
            except ValidationError as exc:
                problems.append(f"{factor.name}: the level “{level}” is not valid: {' '.join(exc.messages)}")
                continue
            levels.append(value)
        if len(levels) == len(factor.levels):
            typed.append(Factor(factor.name, tuple(levels)))
    if not problems:
        try:
            combinations_from_factors({f.name: list(f.levels) for f in typed}, base_value)
        except ValueError as exc:
            problems.append(f"{exc} (at most {MAX_COMBINATIONS} combinations).")
    return typed, problems


def _param_value(name: str, level: ParamValue) -> Any:
    """A level as the variant's raw parameter: rich text for the body (the typed text escaped), as is otherwise."""
    if name == "body":
        return str(format_html("<p>{}</p>", level))
    return level


def _label(name: str) -> str:
    words = name.replace("_", " ")
    return words[:1].upper() + words[1:]


def combination_variants(base: Any, combinations: Sequence[Combination]) -> list[tuple[str, str, int, Any]]:
    """Each combination as a variant spec for ``slot_variants_add``: the base's parameters with the levels set.

    Weight 0: a weighted split never serves a combination outside the experiment.
    """
    raw = list(base.params.raw_data)
    template_key, base_value = raw[0]["type"], dict(raw[0]["value"])
    specs = []
    for combination in combinations:
        value = {**base_value, **{name: _param_value(name, level) for name, level in combination.levels.items()}}
        name = ", ".join(f"{_label(factor)} “{level}”" for factor, level in combination.levels.items())
        specs.append((combination.key, name, 0, [{"type": template_key, "value": value}]))
    return specs


@dataclass(frozen=True, slots=True)
class GenerateOutcome:
    combinations: tuple[str, ...]  # every combination's variant key, the baseline first
    added: tuple[str, ...]  # the variants added to the slot now
    experiment_changed: bool  # whether a new experiment revision was saved


def experiment_combinations_generate(experiment_pk: int, *, user: Any = None) -> GenerateOutcome:
    """Add the experiment's combinations to its slot and make them its arms (a draft revision of the experiment).

    Reads the experiment's latest revision (what its editor sees) and the slot's published
    variants. The experiment revision is saved, not published: publishing it starts the
    combinations, which the editor does. Raises ``CombinationsError`` with the reason.
    """
    from content.models import Slot

    from .models import Experiment

    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment_pk)
        draft = experiment.get_latest_revision_as_object()
        design = design_from_json(draft.factors)
        if design is None or not design.factors:
            raise CombinationsError("Declare the factors and save the experiment first.")
        slot = Slot.objects.filter(pk=draft.slot_id).prefetch_related("variants").first()
        if slot is None:
            raise CombinationsError("The experiment's slot is gone.")
        base = next((v for v in slot.variants.all() if v.key == design.base), None)
        if base is None:
            raise CombinationsError(f"The slot “{slot.key}” has no published variant “{design.base}” to start from.")
        factors, problems = factors_check(base, design.factors)
        if problems:
            raise CombinationsError(" ".join(problems))
        combinations = combinations_from_factors({f.name: list(f.levels) for f in factors})
        paused = [v.key for v in slot.variants.all() if v.is_paused and v.key in {c.key for c in combinations}]
        if paused:
            raise CombinationsError(
                f"The slot pauses the combinations {', '.join(paused)}: unpause them (or delete them) first."
            )
        try:
            _, added = slot_variants_add(slot.key, combination_variants(base, combinations), user=user)
        except SlotEditError as exc:
            raise CombinationsError(str(exc)) from None
        keys = [c.key for c in combinations]
        generated = Design(
            base=design.base,
            factors=design.factors,
            generated=tuple(factors),
            combinations=tuple((c.key, dict(c.levels)) for c in combinations),
        )
        changed = list(draft.variants) != keys or design_to_json(generated) != draft.factors
        if changed:
            draft.variants = keys
            if len(draft.weights or ()) != len(keys):
                draft.weights = []  # equal shares; weights given for other arms would not fit
            draft.factors = design_to_json(generated)
            draft.save_revision(user=user, log_action=True)
        return GenerateOutcome(tuple(keys), tuple(added), changed)
