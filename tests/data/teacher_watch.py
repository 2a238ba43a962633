"""A test-only hook (imported by tests/data/depth_kd_watch_tiny.py through custom_imports): records every
teacher's parameters and buffers before training, checks the teachers stay in eval mode at every iteration,
and writes what changed to ``<work_dir>/teacher_watch.json`` after training."""
import json
import os.path as osp

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class TeacherWatchHook(Hook):
    """Writes ``{teacher: {tensors, changed, training_seen}, '_trainable_changed': [...]}`` (the keys of the
    distiller's own state dict, student and projectors, that training changed) to
    ``<work_dir>/teacher_watch.json``."""

    def before_train(self, runner):
        self.before = {name: {k: v.detach().clone() for k, v in t.model.state_dict().items()}
                       for name, t in runner.model.teachers.items()}
        self.training_seen = {name: False for name in self.before}
        # the trainable side, to show that training did change what it should
        self.trainable = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        for name, t in runner.model.teachers.items():
            self.training_seen[name] |= any(m.training for m in t.model.modules())

    def after_train(self, runner):
        report = {}
        for name, t in runner.model.teachers.items():
            now = t.model.state_dict()
            changed = [k for k, v in self.before[name].items() if not v.equal(now[k])]
            report[name] = dict(tensors=len(now), changed=changed, training_seen=self.training_seen[name])
        now = runner.model.state_dict()
        report['_trainable_changed'] = [k for k, v in self.trainable.items() if not v.equal(now[k])]
        with open(osp.join(runner.work_dir, 'teacher_watch.json'), 'w') as f:
            json.dump(report, f)
