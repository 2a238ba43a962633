# The shipped random-teacher depth KD config plus the test-only TeacherWatchHook (tests/data/teacher_watch.py;
# the test puts tests/data on PYTHONPATH).
_base_ = ['../../configs/quickstart/depth_r18w16-vpdhead_scenes-64px_kd-inverted_random-r18.py']
custom_imports = dict(imports=['mmcrosskd', 'teacher_watch'], allow_failed_imports=False)
custom_hooks = [dict(type='ExportStudentHook'), dict(type='TeacherWatchHook')]
