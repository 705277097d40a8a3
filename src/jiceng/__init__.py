"""jiceng (基层治理知识库): cited Chinese Q&A, a case library and evals over grassroots-governance texts."""

__version__ = "0.1.0"
