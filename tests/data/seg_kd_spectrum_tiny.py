_base_ = './seg_kd_tiny.py'
custom_hooks = [dict(type='ExportStudentHook'), dict(type='RandomStateHook'),
                dict(type='ProjectorSpectrumHook', interval=1)]
