"""The canonical emotion vocabulary and the manifest contract every corpus maps into."""

EMOTIONS: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised", "bored",
)

# path is absolute; speaker is prefixed with the corpus ("ravdess-07") so that
# aggregating corpora never merges two people; gender is "male", "female" or "".
MANIFEST_COLUMNS: tuple[str, ...] = ("path", "corpus", "speaker", "emotion", "gender", "duration")


class CorpusError(ValueError):
    """A corpus folder or manifest that cannot be used at all (missing, empty, malformed)."""
