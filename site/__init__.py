"""Case library for trainers: a mkdocs-material site generated from ``corpus/`` by a mkdocs plugin.

``jiceng.site.urls.library_url`` is the one place that turns a corpus offset into a library link.
"""
