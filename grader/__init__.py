"""Auto-grader for a course on training neural networks."""

__version__ = "0.1.0"
