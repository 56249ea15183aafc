"""The BDD100K detection classes: one global index used by labels, predictions and metrics."""

BDD100K_CLASSES = (
    "pedestrian",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
    "traffic light",
    "traffic sign",
)
CLASS_INDEX = {name: i for i, name in enumerate(BDD100K_CLASSES)}

# The pedestrian head owns vulnerable road users; the object head everything else, so the two heads
# together cover all 10 classes without ever emitting the same person twice.
PEDESTRIAN_CLASSES = (0, 1)
OBJECT_CLASSES = (2, 3, 4, 5, 6, 7, 8, 9)

# YOLOP/HybridNets/YOLOPv2 merge these into one "vehicle" class for their published tables.
VEHICLE_CLASSES = (2, 3, 4, 5)

# Names that other datasets and older BDD100K releases use for the same classes.
CLASS_ALIASES = {
    "person": "pedestrian",
    "bike": "bicycle",
    "motor": "motorcycle",
    "motorbike": "motorcycle",
    "traffic_light": "traffic light",
    "traffic_sign": "traffic sign",
}

# The four tasks (heads) of the network, in the order every per-task dict, report and log uses.
TASKS = ("objects", "pedestrians", "lanes", "drivable")

# The target value of pixels without a label (letterbox padding, images whose source does not label the task):
# losses skip it (cross-entropy's ignore_index) and metrics leave it out.
IGNORE_INDEX = 255

DRIVABLE_CLASSES = ("direct", "alternative", "background")


def class_index(name: str) -> int:
    """Global index of a class name (BDD100K spelling or a known alias); KeyError if unknown."""
    key = name.strip().lower()
    key = CLASS_ALIASES.get(key, key)
    return CLASS_INDEX[key]
