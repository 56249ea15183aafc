"""The video tool (`perception infer`): frame sources, the concurrent pipeline, tracking, drawing, encoding
and the files a run writes, and the fleet runner over many videos.

Nothing is imported here: `perception.video.sources` and the drawing stay importable in the torch-free
runtime install, and each module is imported by its own path.
"""
