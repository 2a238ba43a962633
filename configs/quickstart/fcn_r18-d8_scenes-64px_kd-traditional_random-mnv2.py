# The same as fcn_r18-d8_scenes-64px_kd-inverted_random-mnv2.py, with the traditional (student -> teacher)
# projector.
_base_ = ['./fcn_r18-d8_scenes-64px_kd-inverted_random-mnv2.py']
model = dict(projector='traditional')
