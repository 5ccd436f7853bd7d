"""Imported first by the anomaly package: without numpy, importing it raises
:class:`~honeyswitch.extras.MissingExtra` (one line naming the extra), not a traceback
from deep inside a module."""
from ...extras import require

require("anomaly")
