# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.ipsecmgr.openbsd.plugins.modules import key

from .conftest import plan_document, run_module

KEY = 'acme-new-key-0b6d2f9e41c7a835'

KEYS_EDIT = dict(kind='edit', path='/etc/ipsec.keys', created=False, mode='0600',
                 diff='    acme_psk: changed\n')
LOAD_KEY = dict(kind='load-key', key='acme_psk',
                lines=['C set [peer-198.51.100.1]:Authentication=<redacted> force'])
NOTHING = 'key acme_psk already holds that value: nothing to do'


def answer(status, steps=None, rc=0, **kw):
    def respond(args):
        return rc, plan_document('key set', None, '-n' in args, status, steps, **kw)
    return respond


def key_set_calls(ipsecmgr):
    return [(c, k) for c, k in zip(ipsecmgr.calls, ipsecmgr.kwargs) if 'key' in c]


def shows_key(result):
    """Whether the key is anywhere in the result, as text or JSON-escaped."""
    text = json.dumps(result)
    return KEY in text or KEY in repr(result)


def test_the_key_goes_on_standard_input_never_on_the_command_line(ipsecmgr):
    ipsecmgr.answers['key'] = answer('done', [KEYS_EDIT, LOAD_KEY])
    kind, result = run_module(key.main, dict(name='acme_psk', value=KEY))
    assert kind == 'exit', result
    [(argv, kwargs)] = key_set_calls(ipsecmgr)
    assert argv == ['ipsecmgr', 'key', 'set', '--json', 'acme_psk']
    assert not [a for a in argv if KEY in a]
    # one line, as it is: run_command adds no line end of its own
    assert kwargs['data'] == KEY + '\n'
    assert kwargs['binary_data'] is True
    assert result['changed'] is True
    assert result['commands'] == ['key set acme_psk']
    assert result['ipsecmgr'][0]['result']['status'] == 'done'
    assert not shows_key(result)


def test_root_and_config_are_passed_on(ipsecmgr):
    ipsecmgr.answers['key'] = answer('done', [KEYS_EDIT])
    kind, result = run_module(key.main, dict(
        name='acme_psk', value=KEY, root='/gw', config='/gw/etc/ipsecmgr.conf',
        binary='/usr/local/sbin/ipsecmgr'))
    assert kind == 'exit', result
    [(argv, kwargs)] = key_set_calls(ipsecmgr)
    assert argv == ['/usr/local/sbin/ipsecmgr', '--root', '/gw', '-c', '/gw/etc/ipsecmgr.conf',
                    'key', 'set', '--json', 'acme_psk']


def test_a_line_end_at_the_end_is_taken_off_as_ipsecmgr_does(ipsecmgr):
    ipsecmgr.answers['key'] = answer('done', [KEYS_EDIT])
    for given in (KEY + '\n', KEY + '\r\n'):
        ipsecmgr.kwargs = []
        kind, result = run_module(key.main, dict(name='acme_psk', value=given))
        assert kind == 'exit', result
        [(argv, kwargs)] = key_set_calls(ipsecmgr)
        assert kwargs['data'] == KEY + '\n'


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('value', [KEY + '\nsecond-line-0123456789', 'first\n' + KEY,
                                   KEY + '\r' + KEY, KEY + '\n\n'])
def test_a_key_of_more_than_one_line_is_refused_before_ipsecmgr_runs(ipsecmgr, value, check_mode):
    kind, result = run_module(key.main, dict(
        name='acme_psk', value=value, _ansible_check_mode=check_mode))
    assert kind == 'fail', result
    assert 'line break' in result['msg']
    assert ipsecmgr.calls == []
    assert not shows_key(result)
    assert 'second-line' not in json.dumps(result)


def test_check_mode_runs_with_n_and_says_it_would_change(ipsecmgr):
    ipsecmgr.answers['key'] = answer('planned', [KEYS_EDIT, LOAD_KEY])
    kind, result = run_module(key.main, dict(
        name='acme_psk', value=KEY, _ansible_check_mode=True))
    assert kind == 'exit', result
    [(argv, kwargs)] = key_set_calls(ipsecmgr)
    assert '-n' in argv
    assert argv[-1] == 'acme_psk'
    assert kwargs['data'] == KEY + '\n'
    assert result['changed'] is True
    assert result['ipsecmgr'][0]['dry_run'] is True
    # and only in check mode
    ipsecmgr.answers['key'] = answer('done', [KEYS_EDIT, LOAD_KEY])
    ipsecmgr.calls, ipsecmgr.kwargs = [], []
    run_module(key.main, dict(name='acme_psk', value=KEY))
    [(argv, kwargs)] = key_set_calls(ipsecmgr)
    assert '-n' not in argv


@pytest.mark.parametrize('check_mode', [False, True])
def test_the_same_key_again_is_unchanged(ipsecmgr, check_mode):
    ipsecmgr.answers['key'] = answer('unchanged', message=NOTHING)
    kind, result = run_module(key.main, dict(
        name='acme_psk', value=KEY, _ansible_check_mode=check_mode, _ansible_diff=True))
    assert kind == 'exit', result
    assert result['changed'] is False
    assert result['commands'] == []
    assert result['ipsecmgr'][0]['result']['message'] == NOTHING
    assert result['diff'] == {'prepared': ''}


def test_diff_mode_shows_the_plans_summary_only(ipsecmgr):
    ipsecmgr.answers['key'] = answer('planned', [KEYS_EDIT, LOAD_KEY])
    kind, result = run_module(key.main, dict(
        name='acme_psk', value=KEY, _ansible_check_mode=True, _ansible_diff=True))
    assert kind == 'exit', result
    assert result['diff']['prepared'] == (
        '/etc/ipsec.keys:\n    acme_psk: changed\n'
        'load acme_psk into isakmpd:\n'
        '    C set [peer-198.51.100.1]:Authentication=<redacted> force\n')
    # without --diff, no diff
    kind, result = run_module(key.main, dict(name='acme_psk', value=KEY, _ansible_check_mode=True))
    assert 'diff' not in result


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('name', [
    '', 'acme-psk', 'acme psk', '$acme_psk', 'acme_psk\n', '-n', '--json', '../keys',
    '/etc/ipsec.keys', 'caf\u00e9', 'x' * 65, 'acme_psk;id'])
def test_a_name_ipsecmgr_would_refuse_is_refused_before_anything_runs(ipsecmgr, name, check_mode):
    ipsecmgr.answers['key'] = answer('done', [KEYS_EDIT])
    kind, result = run_module(key.main, dict(
        name=name, value=KEY, _ansible_check_mode=check_mode))
    assert kind == 'fail', result
    assert 'key name' in result['msg'], result
    assert ipsecmgr.calls == []
    assert not shows_key(result)


def test_names_ipsecmgr_takes_are_run(ipsecmgr):
    ipsecmgr.answers['key'] = answer('done', [KEYS_EDIT])
    for name in ('acme_psk', 'ACME', '_', '0key', 'x' * 64):
        kind, result = run_module(key.main, dict(name=name, value=KEY))
        assert kind == 'exit', (name, result)
    assert [c[-1] for c in ipsecmgr.calls] == ['acme_psk', 'ACME', '_', '0key', 'x' * 64]


def test_wait_is_no_option_of_the_key_module(ipsecmgr):
    # a key load waits for no exchange: there is nothing to wait for
    kind, result = run_module(key.main, dict(name='acme_psk', value=KEY, wait=30))
    assert kind == 'fail', result
    assert ipsecmgr.calls == []


def test_a_refusal_carries_ipsecmgrs_message_and_the_journal(ipsecmgr):
    journal = dict(state='completion-pending', op='key set acme_psk', next_step=1, steps=2,
                   message='the next run completes it')
    ipsecmgr.answers['key'] = answer(
        'failed', rc=1, journal=journal,
        message='other_psk is not declared in the settings\' [keys] names')
    kind, result = run_module(key.main, dict(name='other_psk', value=KEY))
    assert kind == 'fail', result
    assert result['msg'] == 'other_psk is not declared in the settings\' [keys] names'
    assert result['rc'] == 1
    assert result['journal'] == journal
    assert result['commands'] == []
    assert not shows_key(result)


def leaking(status, steps, rc=0):
    """An ipsecmgr that shows the key wherever it can: what the module
    returns must not."""
    def respond(args):
        doc = plan_document('key set', None, '-n' in args, status, steps,
                            message='acme_psk: "%s" is refused' % KEY)
        doc['result']['warnings'] = ['the key %s' % KEY]
        doc[KEY] = {KEY: [KEY, 'before %s after' % KEY]}
        return rc, doc
    return respond


LEAKY_STEPS = [dict(KEYS_EDIT, diff='-acme_psk = "old"\n+acme_psk = "%s"\n' % KEY),
               dict(LOAD_KEY, lines=['C set [peer-198.51.100.1]:Authentication=%s force' % KEY])]


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('status,rc', [('done', 0), ('planned', 0), ('unchanged', 0),
                                       ('failed', 1)])
def test_no_result_field_holds_the_key_whatever_ipsecmgr_prints(ipsecmgr, status, rc, check_mode):
    ipsecmgr.answers['key'] = leaking(status, LEAKY_STEPS if status != 'unchanged' else [], rc)
    kind, result = run_module(key.main, dict(
        name='acme_psk', value=KEY, _ansible_check_mode=check_mode, _ansible_diff=True))
    assert kind == ('fail' if status == 'failed' else 'exit'), result
    assert not shows_key(result), result
    assert '<redacted>' in json.dumps(result)
    if status == 'failed':
        assert result['msg'] == 'acme_psk: "<redacted>" is refused'


@pytest.mark.parametrize('stdout,stderr', [
    ('', 'ipsecmgr: key set: the key %s is bad\n' % KEY),
    ('not json, the key %s\n' % KEY, ''),
    ('{"version": 2, "key": "%s"}' % KEY, ''),
])
def test_text_instead_of_json_is_a_failure_without_the_key(ipsecmgr, stdout, stderr):
    ipsecmgr.broken = (2, stdout, stderr)
    kind, result = run_module(key.main, dict(name='acme_psk', value=KEY))
    assert kind == 'fail', result
    assert not shows_key(result), result
    if stderr or not stdout.startswith('{'):
        assert '<redacted>' in result['msg']
