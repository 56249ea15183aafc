"""The built-in synthetic driving world: a seeded scene, a pinhole render and exact BDD100K-format labels."""

from perception.data.synthetic.render import RenderedFrame, render_scene
from perception.data.synthetic.scene import Scene, sample_scene
from perception.data.synthetic.writer import generate_dataset

__all__ = ["RenderedFrame", "Scene", "generate_dataset", "render_scene", "sample_scene"]
