"""Every default threshold of detection decoding and scoring, written once (as ultralytics' cfg/default.yaml).

Predicting and evaluating differ on purpose, and only here:
- conf: a deployment shows boxes it is fairly sure of (PREDICT_CONF 0.25); evaluation decodes nearly every box
  (EVAL_CONF 0.001) because AP integrates precision over all scores (COCO practice, the multi-task papers).
- max detections: the decode keeps at most PREDICT_MAX_DETECTIONS boxes per head and image; AP scores at most
  EVAL_MAX_DETECTIONS per image and class (COCO's maxDets = 100).
- NMS IoU: the same for both (NMS_IOU), and for the vehicle protocol's re-suppression of merged classes.
DISPLAY_CONF is for what a person looks at in a report (confusion matrix, worst images), never for AP.
"""

PREDICT_CONF = 0.25
EVAL_CONF = 0.001
NMS_IOU = 0.6
PREDICT_MAX_DETECTIONS = 300
EVAL_MAX_DETECTIONS = 100
DISPLAY_CONF = 0.25
