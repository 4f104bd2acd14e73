"""Tests of the runtime's hot path: the faster code must answer exactly as the code it replaced."""
