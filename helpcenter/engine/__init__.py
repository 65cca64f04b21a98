"""The search engine: articles -> passages -> tokens and vectors -> index -> searcher.

Read it in that order: :mod:`.content` (Markdown with front matter, checked),
:mod:`.passages`, :mod:`.render`, :mod:`.text` (jieba, normalisation),
:mod:`.embed` (with :mod:`.model_files`, :mod:`.default_model`, :mod:`.onnx_model`),
:mod:`.bm25`, :mod:`.index` (one build on disk), :mod:`.build` (writes builds),
:mod:`.search` (reads them). :mod:`.evaluate` and :mod:`.importer` serve the CLI.
No Flask and no database here: the CLI, the web app and the benchmarks share it.
"""
