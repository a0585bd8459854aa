"""Results entries: predictions made elsewhere on a benchmark's frozen split, with a card
(``results/<benchmark>/<entry>/``), checked by ``brainbench results check``."""

from brainbench.results.card import CARD_FILE, ResultCard
from brainbench.results.check import check_entries, check_entry

__all__ = ["CARD_FILE", "ResultCard", "check_entries", "check_entry"]
