"""Speed and memory benchmark of the model against a torchvision baseline (`perception bench`)."""
