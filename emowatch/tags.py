"""What emowatch writes into a photo's metadata for one classification."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# Our XMP namespace. Values live here, never in keywords.
NS_URI = "https://emowatch.dev/ns/1.0/"
NS_PREFIX = "emowatch"


@dataclass(frozen=True)
class EmotionTags:
    """The values for one photo.

    `keyword` is None when the prediction is uncertain (confidence below the minimum): then no
    emotion keyword is written and any previous one of ours is removed, but the values are
    recorded in our namespace with `uncertain` set.
    """

    label: str  # the model's label, e.g. "positive"
    keyword: str | None  # the word written as keyword, e.g. "Positive"; None when uncertain
    parent: str  # the hierarchy's parent, e.g. "Emotion"
    confidence: float
    probabilities: Mapping[str, float] = field(default_factory=dict)
    model: str = ""  # name@version
    tagged_at: str = ""  # ISO 8601, UTC, when this result was first written

    @property
    def uncertain(self) -> bool:
        return self.keyword is None

    @property
    def hierarchical(self) -> str | None:
        """`Emotion|Positive` for lr:hierarchicalSubject."""
        return f"{self.parent}|{self.keyword}" if self.keyword else None

    @property
    def flat(self) -> tuple[str, ...]:
        """dc:subject entries, as Lightroom writes a hierarchy: every level as its own word."""
        return (self.parent, self.keyword) if self.keyword else ()
