"""benchmarks/sweep.py: the table's numbers, one baseline per regime, resuming without redoing runs, locks
shared by several sweep processes, and real runs of tools/train.py on tiny data."""
import glob
import json
import math
import os
import os.path as osp
import sys

import pytest

from conftest import DATA, ROOT, cls_data_options

sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import sweep  # noqa: E402


def _fake_results(out, values):
    for name, vals in values.items():
        for seed, v in enumerate(vals):
            d = osp.join(out, name, f'seed{seed}')
            os.makedirs(d)
            with open(osp.join(d, 'result.json'), 'w') as f:
                json.dump(dict(setting=name, seed=seed, metric='acc', value=v), f)


def _row(text, name):
    return next(line for line in text.splitlines() if line.startswith(f'| {name} |'))


def test_report_mean_std_and_gain_by_hand(tmp_path):
    out = str(tmp_path / 'sweep')
    _fake_results(out, {'base': [1.0, 2.0, 3.0], 'a': [2.0, 4.0, 6.0], 'few_base': [10.0, 10.0],
                        'few_a': [11.0, 13.0]})
    spec = dict(metric='acc', baseline='base', settings=[
        dict(name='base', config='x'), dict(name='a', config='x'), dict(name='missing', config='x'),
        dict(name='few_base', config='x', baseline='few_base'), dict(name='few_a', config='x', baseline='few_base')])
    report = str(tmp_path / 'report.md')
    text = sweep.report(spec, sweep.collect(out, spec['settings']), out, report, 'cmd')
    assert '| base | 2.00 +- 1.00 | 3 |  |' in _row(text, 'base')
    # gain 4 - 2 = +2, s.e. = sqrt(4/3 + 1/3)
    assert f'| a | 4.00 +- 2.00 | 3 | +2.00 +- {math.sqrt(5 / 3):.2f} |' in _row(text, 'a')
    assert '(not run)' in _row(text, 'missing')
    # its own baseline, not the spec's: +2 over few_base, s.e. sqrt(2/2 + 0)
    assert '| few_a | 12.00 +- 1.41 | 2 | +2.00 +- 1.00 |' in _row(text, 'few_a')
    assert _row(text, 'few_base').split('|')[4].strip() == ''  # no gain over itself
    assert 'gain over its baseline' in text
    assert open(report).read() == text and osp.getsize(str(tmp_path / 'report.png')) > 1000


def test_report_lower_is_better_gain_sign_and_digits(tmp_path):
    """An error metric (depth's abs_rel): the gain is baseline minus setting, so lower error shows as +."""
    out = str(tmp_path / 'sweep')
    _fake_results(out, {'base': [0.30, 0.32], 'better': [0.25, 0.27], 'worse': [0.40, 0.40]})
    spec = dict(metric='abs_rel', baseline='base', higher_is_better=False, digits=4,
                settings=[dict(name=n, config='x') for n in ('base', 'better', 'worse')])
    text = sweep.report(spec, sweep.collect(out, spec['settings']), out, str(tmp_path / 'r.md'), 'cmd')
    assert 'abs_rel mean +- std (lower is better)' in text
    # 0.31 - 0.26 = +0.05, s.e. sqrt(0.0002/2 + 0.0002/2) = 0.0141
    assert '| better | 0.2600 +- 0.0141 | 2 | +0.0500 +- 0.0141 | 0.2500, 0.2700 |' in _row(text, 'better')
    assert '| worse | 0.4000 +- 0.0000 | 2 | -0.0900 +- 0.0100 |' in _row(text, 'worse')


def test_lock_of_a_live_process_is_respected_and_a_dead_one_taken_over(tmp_path):
    lock = str(tmp_path / '.lock')
    with open(lock, 'w') as f:
        f.write(str(os.getpid()))
    assert not sweep._take_lock(lock)
    with open(lock, 'w') as f:
        f.write('999999999')  # no such process
    assert sweep._take_lock(lock) and open(lock).read() == str(os.getpid())


def test_sweep_trains_tabulates_and_resumes_without_rerunning(tiny_cls, tmp_path, monkeypatch):
    out = str(tmp_path / 'sweep')
    spec = dict(metric='accuracy/top1', baseline='lr0.01', common_options=cls_data_options(tiny_cls), settings=[
        dict(name='lr0.01', config=osp.join(DATA, 'cls_resnet18_tiny.py')),
        dict(name='lr0', config=osp.join(DATA, 'cls_resnet18_tiny.py'),
             options=['optim_wrapper.optimizer.lr=0.0', 'optim_wrapper.optimizer.momentum=0.0',
                      'optim_wrapper.optimizer.weight_decay=0.0'])])
    report = str(tmp_path / 'report.md')
    sweep.run_sweep(spec, out, [0], report, 'cmd', log=lambda m: None)
    for name in ('lr0.01', 'lr0'):
        run = osp.join(out, name, 'seed0')
        result = json.load(open(osp.join(run, 'result.json')))
        assert result['value'] == sweep.last_metric(run, 'accuracy/top1') is not None
        assert 'randomness.seed=0' in result['command'] and not osp.exists(osp.join(run, '.lock'))
    assert 'optim_wrapper.optimizer.lr=0.0' in json.load(open(osp.join(out, 'lr0', 'seed0', 'result.json')))['command']

    # a second sweep over the same folder trains nothing: every run is finished
    def no_training(*a, **k):
        raise AssertionError('a finished run was trained again')
    monkeypatch.setattr(sweep.subprocess, 'run', no_training)
    text = sweep.run_sweep(spec, out, [0], report, 'cmd', log=lambda m: None)
    assert _row(text, 'lr0').split('|')[3].strip() == '1'

    # a failed run says where its log is and leaves no lock behind
    monkeypatch.undo()
    bad = dict(spec, settings=[dict(name='bad', config=osp.join(DATA, 'cls_resnet18_tiny.py'),
                                    options=['model.backbone.type=NoSuchBackbone'])])
    with pytest.raises(RuntimeError, match='train.log'):
        sweep.run_sweep(bad, out, [0], report, 'cmd', log=lambda m: None)
    assert not osp.exists(osp.join(out, 'bad', 'seed0', '.lock'))


def test_jobs_share_one_sweep(tiny_cls, tmp_path):
    """``--jobs 2``: a second worker process takes the runs the first has not locked; one full table; the
    spec's prepare() (e.g. training a teacher) runs once, before the workers start."""
    spec = tmp_path / 'spec.py'
    cfg = osp.join(DATA, 'cls_resnet18_tiny.py')
    prepared = tmp_path / 'prepared.txt'
    spec.write_text(f'metric = "accuracy/top1"\nbaseline = "a"\ncommon_options = {cls_data_options(tiny_cls)!r}\n'
                    f'settings = [dict(name="a", config={cfg!r}), dict(name="b", config={cfg!r}, '
                    f'options=["optim_wrapper.optimizer.lr=0.0"])]\n'
                    f'def prepare(settings):\n    open({str(prepared)!r}, "a").write("prepared\\n")\n')
    out, report = str(tmp_path / 'sweep'), str(tmp_path / 'r.md')
    sweep.main([str(spec), '--out', out, '--report', report, '--seeds', '0', '1', '--jobs', '2'])
    assert prepared.read_text() == 'prepared\n'
    results = sweep.collect(out, [dict(name='a'), dict(name='b')])
    assert sorted((r['setting'], r['seed']) for r in results) == [('a', 0), ('a', 1), ('b', 0), ('b', 1)]
    assert all(_row(open(report).read(), n).split('|')[3].strip() == '2' for n in 'ab')

    # more seeds for one setting only; the table keeps both
    sweep.main([str(spec), '--out', out, '--report', report, '--seeds', '2', '--only', 'b*'])
    text = open(report).read()
    assert _row(text, 'a').split('|')[3].strip() == '2' and _row(text, 'b').split('|')[3].strip() == '3'
    # the table again from disk, training nothing
    os.remove(report)
    sweep.main([str(spec), '--out', out, '--report', report, '--report-only'])  # every finished seed
    def table(t):
        return [line for line in t.splitlines() if not line.startswith('Command:')]
    assert table(open(report).read()) == table(text)
    # ... or of chosen seeds and settings only
    sweep.main([str(spec), '--out', out, '--report', report, '--seeds', '0', '--only', 'b', '--report-only'])
    text = open(report).read()
    assert _row(text, 'b').split('|')[3].strip() == '1' and '| a |' not in text
    with pytest.raises(ValueError, match='the settings are: a, b'):
        sweep.main([str(spec), '--out', out, '--seeds', '2', '--only', 'c'])


def test_refresh_keeps_metric_and_fills_summaries(tmp_path):
    import json
    import sweep
    run = tmp_path / 'a' / 'seed0'
    run.mkdir(parents=True)
    vis = run / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text(
        '{"loss": 3.0, "loss_kd_c4": 1.0, "decode.loss_ce": 2.0, "decode.acc_seg": 50.0, "lr": 0.1, "step": 250}\n'
        '{"loss": 5.0, "loss_kd_c4": 2.0, "decode.loss_ce": 3.0, "decode.acc_seg": 60.0, "lr": 0.1, "step": 500}\n'
        '{"mIoU": 10.0, "step": 500}\n'
        '{"loss": 1.0, "loss_kd_c4": 0.5, "decode.loss_ce": 0.5, "step": 1000}\n{"mIoU": 12.5, "step": 1000}\n'
        '{"loss": 9.0, "step": 1010}\n')  # after the last validation: not in the loss curve
    (run / 'projector_spectrum.json').write_text(json.dumps({'c4': [[1, [2.0, 1.0]], [1000, [3.0, 0.5]]]}))
    (run / 'last_checkpoint').write_text(str(run / 'iter_1000.pth'))  # pruned by --prune
    old = dict(setting='a', seed=0, metric='mIoU', value=12.5, command='x',
               projectors={'c4': {'final': {'rank': 2}}})
    (run / 'result.json').write_text(json.dumps(old))
    sweep.refresh(str(tmp_path), [dict(name='a')], 'mIoU')
    new = json.loads((run / 'result.json').read_text())
    assert new['value'] == 12.5 and new['command'] == 'x'
    assert new['curve'] == [10.0, 12.5]
    # the losses averaged over each validation interval (accuracy and lr are not losses)
    assert new['loss_curve'] == [{'decode.loss_ce': 2.5, 'loss': 4.0, 'loss_kd_c4': 1.5},
                                 {'decode.loss_ce': 0.5, 'loss': 1.0, 'loss_kd_c4': 0.5}]
    assert new['projectors']['c4']['final'] == {'rank': 2}  # no checkpoint left: the old final stays
    assert new['projectors']['c4']['singular_values'][-1] == [1000, [3.0, 0.5]]


def test_claim_gain_and_verdict_by_hand():
    import claims
    rows = {'a': [dict(value=v) for v in (11.0, 12.0, 13.0)], 'b': [dict(value=v) for v in (9.0, 10.0, 11.0)]}
    gain, se, na, nb = claims.compare(rows, 'a', 'b', higher=True)
    assert (gain, na, nb) == (2.0, 3, 3) and se == pytest.approx(math.sqrt(1 / 3 + 1 / 3))
    assert claims.verdict((gain, se, na, nb)) == '**reproduced**'      # 2.0 >= 2 * 0.816
    assert claims.verdict((-gain, se, na, nb)) == '**reversed**'
    assert claims.verdict((1.0, se, na, nb)) == 'not reproduced'
    assert claims.verdict((5.0, 0.1, 1, 3)) == 'open (1 seed)'
    assert claims.verdict(None) == 'not run yet'
    # an error metric: lower is better, so b - a
    gain, *_ = claims.compare(rows, 'a', 'b', higher=False)
    assert gain == -2.0


def test_claims_load_reads_the_last_validations_when_asked(tmp_path, monkeypatch):
    """A noisy metric (depth) is read as the mean of each run's last validations; a run with fewer is left
    out rather than averaged over what it has."""
    import claims
    for setting, seed, curve in (('a', 0, [0.5, 0.4, 0.3, 0.2]), ('a', 1, [0.3, 0.1]), ('b', 0, [0.9, None, 0.6])):
        run = tmp_path / 'sweep' / setting / f'seed{seed}'
        run.mkdir(parents=True)
        (run / 'result.json').write_text(json.dumps(dict(setting=setting, seed=seed, value=curve[-1],
                                                         curve=curve)))
    monkeypatch.setattr(claims, 'RESULTS', str(tmp_path))
    assert {k: [r['value'] for r in v] for k, v in claims.load('sweep').items()} == {'a': [0.2, 0.1], 'b': [0.6]}
    last3 = {k: [r['value'] for r in v] for k, v in claims.load('sweep', tail=3).items()}
    assert last3 == {'a': [pytest.approx(0.3)]}  # (0.4 + 0.3 + 0.2) / 3; seed 1 and b have < 3 validations


def test_kd_share_by_hand():
    """The mechanism table's column: distillation terms over the task loss (the total minus the terms)."""
    import claims
    run = dict(loss_curve=[{'loss': 3.0, 'loss_kd_c4': 0.5, 'loss_kd_c5': 0.5, 'decode.loss_ce': 2.0},
                           {'loss': 1.5, 'loss_kd_c4': 0.25, 'loss_kd_c5': 0.25, 'decode.loss_ce': 1.0}])
    assert claims.kd_share(run, 0) == 0.5 and claims.kd_share(run, -1) == 0.5
    assert claims.kd_share(dict(loss_curve=[{'loss': 2.0, 'decode.loss_ce': 2.0}]), 0) is None  # no KD term
    assert claims.kd_share(dict(value=1.0), 0) is None  # a result.json from before loss curves
    other = dict(loss_curve=[{'loss': 5.0, 'loss_kd_c4': 1.0}, {'loss': 2.0, 'loss_kd_c4': 1.0}])
    assert claims._share_cell([run, other, dict(value=1.0)]) == '0.38 -> 0.75 (2)'  # (0.5+0.25)/2, (0.5+1)/2


def test_paired_gain_by_hand():
    import claims
    # every seed moves both settings together: unpaired the gain is lost in the spread, paired it is clear
    rows = {'a': [dict(seed=s, value=v) for s, v in ((0, 21.0), (1, 25.0), (2, 23.0), (3, 30.0))],
            'b': [dict(seed=s, value=v) for s, v in ((0, 20.0), (1, 24.5), (2, 22.0), (5, 19.0))]}
    gain, se, n = claims.paired(rows, 'a', 'b', higher=True)           # seeds 0-2: 1.0, 0.5, 1.0
    assert n == 3 and gain == pytest.approx(2.5 / 3)
    assert se == pytest.approx(math.sqrt(((1 / 6) ** 2 * 2 + (1 / 3) ** 2) / 2 / 3))
    assert claims.paired(rows, 'a', 'b', higher=False)[0] == pytest.approx(-2.5 / 3)
    assert claims.paired({'a': rows['a'][:1], 'b': rows['b']}, 'a', 'b', True) is None  # one pair


def test_over_fitting_claims_pair_by_subset_and_seed(tmp_path):
    """Issue #29: a run pairs with the same seed on the same scenes, never with that seed on another subset;
    the verdict reads all pairs, and holds only where every subset points the same way."""
    import claims
    first, second, third = claims.SMALL_SUBSETS
    values = {(first, 'a', 0): 20.0, (first, 'b', 0): 19.0, (first, 'a', 1): 22.0, (first, 'b', 1): 21.5,
              (second, 'a', 0): 30.0, (second, 'b', 0): 28.0, (second, 'a', 1): 31.0, (second, 'b', 1): 29.5}
    for (folder, setting, seed), value in values.items():
        run = tmp_path / folder / setting / f'seed{seed}'
        run.mkdir(parents=True)
        (run / 'result.json').write_text(json.dumps(dict(setting=setting, seed=seed, value=value)))
    rows = claims.load(claims.SMALL_SUBSETS, results=str(tmp_path))
    assert sorted((r['subset'], r['seed']) for r in rows['a']) == [(first, 0), (first, 1), (second, 0), (second, 1)]
    gains = [1.0, 0.5, 2.0, 1.5]  # per (subset, seed); pairing seed 0 of one subset with the other's is wrong
    assert claims.pair_gains(rows, 'a', 'b', True) == dict(zip([(first, 0), (first, 1), (second, 0), (second, 1)],
                                                               gains))
    gain, se, n = claims.paired(rows, 'a', 'b', True)
    assert (gain, n) == (1.25, 4) and se == pytest.approx(math.sqrt(((.25 ** 2 + .75 ** 2) * 2) / 3) / 2)
    assert claims.per_subset(rows, 'a', 'b', True, claims.SMALL_SUBSETS) == [(first, 0.75, 2), (second, 1.75, 2),
                                                                             (third, None, 0)]
    # the unpaired gain compares the subsets both settings ran: 'c' ran on the first subset only
    run = tmp_path / first / 'c' / 'seed0'
    run.mkdir(parents=True)
    (run / 'result.json').write_text(json.dumps(dict(setting='c', seed=0, value=25.0)))
    rows = claims.load(claims.SMALL_SUBSETS, results=str(tmp_path))
    c_vs_b = claims.compare(rows, 'c', 'b', True)  # 25 - mean(19, 21.5): b's 2 runs there, not its 4
    assert c_vs_b[0] == pytest.approx(4.75) and c_vs_b[2:] == (1, 2)
    assert claims.compare(rows, 'a', 'b', True)[::2] == (1.25, 4)
    # the verdict: with a subset missing, what holds so far; with all three, it must hold on each
    said = claims.verdict((gain, se, n, n))
    assert said == '**reproduced**'  # 1.25 >= 2 * 0.323
    assert claims.subset_verdict(said, claims.per_subset(rows, 'a', 'b', True, claims.SMALL_SUBSETS)) == \
        '**reproduced** so far (2 of 3 subsets run)'
    every = [(first, 0.75, 2), (second, 1.75, 2), (third, 0.1, 5)]
    assert claims.subset_verdict(said, every) == '**reproduced**'
    against = [(first, 0.75, 2), (second, 1.75, 2), (third, -0.1, 5)]
    assert claims.subset_verdict(said, against) == \
        'not reproduced (all pairs: reproduced, but scenes 1500-1549 the other way)'
    assert claims.subset_verdict('**reversed** (paired)', [(first, -1, 5), (second, 0.2, 5), (third, -2, 5)]) \
        .startswith('not reproduced (all pairs: reversed (paired), but scenes 500-549')
    assert claims.subset_verdict('not reproduced (paired)', against) == 'not reproduced (paired)'
    # a subset already run that points the other way is not hidden behind "so far"
    partial_against = [(first, 0.75, 5), (second, -0.3, 1), (third, None, 0)]
    assert claims.subset_verdict(said, partial_against) == \
        'not reproduced (all pairs: reproduced, but scenes 500-549 the other way) so far (2 of 3 subsets run)'


def test_claims_rewrite_only_their_block(tmp_path):
    import claims
    doc = tmp_path / 'results.md'
    doc.write_text(claims.splice(str(doc), 'table v1'))
    text = doc.read_text().replace(claims.END, 'my reading of it\n' + claims.END) + '\nfootnote\n'
    doc.write_text(text.replace('table v1\n', 'table v1\n\n'))
    new = claims.splice(str(doc), 'table v2')
    assert 'table v2' in new and 'table v1' not in new
    assert new.startswith(claims.HEADER) and new.endswith('footnote\n')


def test_claims_main_keeps_the_hand_written_reading(tmp_path):
    import claims
    doc = tmp_path / 'results.md'
    doc.write_text(f'# mine\n\nintro\n{claims.BEGIN}\nold tables\n{claims.END}\n\n## reading\nkept\n')
    claims.main(['--out', str(doc)])
    text = doc.read_text()
    assert text.startswith('# mine\n\nintro\n') and text.endswith('## reading\nkept\n')
    assert 'old tables' not in text and '## The claims' in text


def test_a_rerun_drops_the_interrupted_attempt_and_a_run_without_metric_is_not_finished(tiny_cls, tmp_path):
    """A run interrupted before its result.json starts again from the beginning: the dead attempt's log
    (a validation the new run never made) must not enter the curve. A run that exits 0 without logging the
    metric raises, writes no result.json (so the next sweep retries it) and keeps its checkpoints."""
    out = str(tmp_path / 'sweep')
    setting = dict(name='a', config=osp.join(DATA, 'cls_resnet18_tiny.py'))
    run = osp.join(out, 'a', 'seed0')
    stale = osp.join(run, '20000101_000000', 'vis_data')
    os.makedirs(stale)
    with open(osp.join(stale, 'scalars.json'), 'w') as f:
        f.write(json.dumps({'accuracy/top1': -1.0, 'step': 1}) + '\n')
    open(osp.join(run, 'iter_1.pth'), 'w').close()
    result = sweep.run_one(setting, 0, out, cls_data_options(tiny_cls), 'accuracy/top1', log=lambda m: None)
    assert -1.0 not in result['curve'] and len(result['curve']) >= 1
    assert len(result['loss_curve']) == len(result['curve']) and 'loss' in result['loss_curve'][-1]
    assert not osp.exists(osp.join(run, '20000101_000000')) and not osp.exists(osp.join(run, 'iter_1.pth'))
    assert json.load(open(osp.join(run, 'result.json')))['value'] == result['value']

    with pytest.raises(RuntimeError, match="logged no 'no/such_metric' validation"):
        sweep.run_one(dict(setting, name='b'), 0, out, cls_data_options(tiny_cls), 'no/such_metric',
                      log=lambda m: None, prune=True)
    run_b = osp.join(out, 'b', 'seed0')
    assert not osp.exists(osp.join(run_b, 'result.json')) and not osp.exists(osp.join(run_b, '.lock'))
    assert glob.glob(osp.join(run_b, '*.pth')), 'the checkpoints of an unfinished run were pruned'


def test_claim_table_row_of_a_setting_run_on_one_subset(tmp_path, monkeypatch):
    """A setting the other subsets do not run (``inv_cls``) reads "scenes 0-49 only" and its verdict "so far
    (1 of 3 subsets run)", however clear its pairs; one they run is given per subset."""
    import claims
    first, second, _ = claims.SMALL_SUBSETS
    for folder, setting, seed, value in [(first, 'inv_cls', s, 21.0 + s / 10) for s in range(3)] + \
            [(first, 'no_distillation', s, 20.0) for s in range(3)] + \
            [(second, 'no_distillation', s, 30.0) for s in range(3)] + \
            [(f, 'inv_random', s, v + 1.0 + s / 10) for f, v in ((first, 20.0), (second, 30.0)) for s in range(3)]:
        run = tmp_path / folder / setting / f'seed{seed}'
        run.mkdir(parents=True)
        (run / 'result.json').write_text(json.dumps(dict(setting=setting, seed=seed, value=value)))
    monkeypatch.setattr(claims, 'CLAIMS', [('c', 'p', [('small', 'inv_cls', 'no_distillation'),
                                                       ('small', 'inv_random', 'no_distillation')])])
    data = {'small': claims.load(claims.SMALL_SUBSETS, results=str(tmp_path))}
    one, every = claims.claim_table(data).splitlines()[2:]
    cells = [c.strip() for c in one.split('|')]
    # sd 0.1 / sqrt 3, against the student on its own scenes only (20, not the 25 of both subsets)
    assert cells[4] == '+1.10 +- 0.06 (3, 3)'
    assert cells[6] == 'scenes 0-49 only'
    assert cells[7] == '**reproduced** (paired) so far (1 of 3 subsets run)'
    cells = [c.strip() for c in every.split('|')]
    assert cells[6] == 'scenes 0-49: +1.10 (3); scenes 500-549: +1.10 (3); scenes 1500-1549: -'
    assert cells[7] == '**reproduced** (paired) so far (2 of 3 subsets run)'
