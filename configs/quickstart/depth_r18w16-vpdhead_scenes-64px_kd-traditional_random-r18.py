# The same as depth_r18w16-vpdhead_scenes-64px_kd-inverted_random-r18.py, with the traditional
# (student -> teacher) projector.
_base_ = ['./depth_r18w16-vpdhead_scenes-64px_kd-inverted_random-r18.py']
model = dict(projector='traditional')
