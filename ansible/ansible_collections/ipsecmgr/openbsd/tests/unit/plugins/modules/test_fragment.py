# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.ipsecmgr.openbsd.plugins.modules import fragment

from .conftest import plan_document, run_module

EDIT = dict(kind='edit', path='/etc/ipsec.d/x.conf', created=False, mode='0600',
            diff='--- /etc/ipsec.d/x.conf\n+++ /etc/ipsec.d/x.conf\n@@ -1 +1 @@\n-a\n+b psk <redacted>\n')


def answer(command, status, steps=None, rc=0, **kw):
    def respond(args):
        return rc, plan_document(command, 'x', '-n' in args, status, steps, **kw)
    return respond


def test_a_new_fragment_is_added_from_content(ipsecmgr):
    ipsecmgr.answers['add'] = answer('add', 'done', [EDIT])
    kind, result = run_module(fragment.main, dict(name='x', content='ike esp ...\n'))
    assert kind == 'exit'
    assert result['changed'] is True
    add = [c for c in ipsecmgr.calls if 'add' in c][0]
    assert add[1:3] == ['add', '--json']
    assert add[-1].endswith('/x.conf')
    assert '-n' not in add
    assert result['commands'][0].startswith('add ')


def test_an_included_fragment_with_nothing_to_apply_is_unchanged(ipsecmgr):
    ipsecmgr.fragments = ['x']
    ipsecmgr.answers['apply'] = answer('apply', 'unchanged', message='x: nothing to apply')
    kind, result = run_module(fragment.main, dict(name='x', content='same\n'))
    assert kind == 'exit'
    assert result['changed'] is False
    assert result['commands'] == []


def test_check_mode_runs_with_n_and_diff_mode_returns_the_edits(ipsecmgr):
    ipsecmgr.fragments = ['x']
    ipsecmgr.answers['apply'] = answer('apply', 'planned', [EDIT])
    kind, result = run_module(fragment.main, dict(
        name='x', content='b\n', _ansible_check_mode=True, _ansible_diff=True))
    assert kind == 'exit'
    assert result['changed'] is True
    apply = [c for c in ipsecmgr.calls if 'apply' in c][0]
    assert '-n' in apply
    assert result['diff']['prepared'] == EDIT['diff']


def test_a_failure_carries_the_message_and_the_journal(ipsecmgr):
    ipsecmgr.fragments = ['x']
    journal = dict(state='completion-pending', op='apply x', next_step=2, steps=3,
                   message='the next run completes it')
    ipsecmgr.answers['apply'] = answer(
        'apply', 'failed', rc=1, message='ipsecctl -f failed', journal=journal)
    kind, result = run_module(fragment.main, dict(name='x'))
    assert kind == 'fail'
    assert result['msg'] == 'ipsecctl -f failed'
    assert result['journal'] == journal
    assert result['rc'] == 1


def test_a_failure_names_the_text_as_given_not_the_temporary_file(ipsecmgr):
    def refuse(args):
        path = args[-1]
        return 1, plan_document('add', 'x', False, 'failed',
                                message='add x: %s: 3: syntax error' % path)
    ipsecmgr.answers['add'] = refuse
    kind, result = run_module(fragment.main, dict(name='x', content='ike esp\n'))
    assert kind == 'fail'
    assert result['msg'] == 'add x: content for x.conf: 3: syntax error'
    kind, result = run_module(fragment.main, dict(name='x', src=__file__))
    assert kind == 'fail'
    assert result['msg'] == 'add x: %s: 3: syntax error' % __file__


def test_absent_removes_only_what_is_included(ipsecmgr):
    ipsecmgr.answers['rm'] = answer('rm', 'done', [dict(kind='move', **{'from': 'a', 'to': 'b'})])
    kind, result = run_module(fragment.main, dict(name='x', state='absent'))
    assert (kind, result['changed']) == ('exit', False)
    assert not [c for c in ipsecmgr.calls if 'rm' in c]
    ipsecmgr.fragments = ['x']
    kind, result = run_module(fragment.main, dict(name='x', state='absent'))
    assert (kind, result['changed'], result['commands']) == ('exit', True, ['rm x'])


def test_down_holds_the_fragment_down_whether_or_not_a_tunnel_is_up(ipsecmgr):
    ipsecmgr.fragments = ['x']
    ipsecmgr.answers['apply'] = answer('apply', 'unchanged', message='nothing')
    ipsecmgr.answers['down'] = answer('down', 'done', [dict(kind='fifo', lines=['t p2-x'])])
    # no tunnel up at this moment: it must stay down when one comes up
    kind, result = run_module(fragment.main, dict(name='x', state='down'))
    assert (kind, result['changed'], result['commands']) == ('exit', True, ['down x'])
    ipsecmgr.tunnels['x'] = 'up'
    kind, result = run_module(fragment.main, dict(name='x', state='down'))
    assert (kind, result['changed']) == ('exit', True)
    # held down already: nothing to do, up or not
    ipsecmgr.held.add('x')
    ipsecmgr.calls = []
    kind, result = run_module(fragment.main, dict(name='x', state='down'))
    assert (kind, result['changed'], result['commands']) == ('exit', False, [])
    assert not [c for c in ipsecmgr.calls if 'down' in c]


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('name', [
    '{victim}', '../victim', 'sub/../../victim', 'a/../victim', '-victim', '.victim',
    'victim.CONF', 'victim\n', 'vic tim', '', 'sub//victim', 'x' * 129])
def test_a_name_ipsecmgr_would_refuse_writes_nothing_anywhere(ipsecmgr, tmp_path, name, check_mode):
    name = name.format(victim=str(tmp_path / 'victim'))
    kind, result = run_module(fragment.main, dict(
        name=name, content='psk "secret-0123456789abcdef"\n', _ansible_check_mode=check_mode))
    assert kind == 'fail', result
    assert 'fragment name' in result['msg'], result
    assert ipsecmgr.calls == []
    assert os.listdir(str(tmp_path)) == []


def test_the_new_text_waits_in_a_private_directory(ipsecmgr):
    ipsecmgr.answers['add'] = answer('add', 'done', [EDIT])
    ipsecmgr.answers['apply'] = answer('apply', 'done', [EDIT])
    run_module(fragment.main, dict(name='x', content='ike esp ...\n'))
    ipsecmgr.fragments = ['x']
    run_module(fragment.main, dict(name='x', content='ike esp changed\n'))
    added, applied = ipsecmgr.files
    # add names the fragment after its file; apply takes the name apart
    assert os.path.basename(added['path']) == 'x.conf'
    assert os.path.basename(applied['path']) == 'new.conf'
    for f in (added, applied):
        assert f['mode'] == 0o600 and f['dir_mode'] == 0o700, f
        assert not os.path.exists(f['path'])
    assert applied['text'] == 'ike esp changed\n'


def test_a_fragment_in_a_subdirectory(ipsecmgr):
    # included: applied from the new text
    ipsecmgr.fragments = ['sub/acme']
    ipsecmgr.answers['apply'] = answer('apply', 'done', [EDIT])
    kind, result = run_module(fragment.main, dict(name='sub/acme', content='ike esp ...\n'))
    assert (kind, result['commands'][0].split()[:2]) == ('exit', ['apply', 'sub/acme']), result
    # not included: ipsecmgr add installs in the fragment directory itself
    ipsecmgr.fragments = []
    ipsecmgr.calls = []
    kind, result = run_module(fragment.main, dict(name='sub/acme', content='ike esp ...\n'))
    assert kind == 'fail', result
    assert 'subdirectory' in result['msg'], result
    assert not [c for c in ipsecmgr.calls if 'add' in c]


@pytest.mark.parametrize('check_mode', [False, True])
def test_present_puts_back_a_fragment_rm_config_only_took_out(ipsecmgr, check_mode):
    # removed from ipsec.conf, still loaded: apply alone would load a file
    # nothing includes; it goes back into the configuration, then applied
    ipsecmgr.fragments = ['x']
    ipsecmgr.states['x'] = 'removed'
    ipsecmgr.answers['add'] = answer('add', 'planned' if check_mode else 'done', [EDIT])
    ipsecmgr.answers['apply'] = answer('apply', 'done', [EDIT])
    kind, result = run_module(fragment.main, dict(
        name='x', content='ike esp ...\n', _ansible_check_mode=check_mode))
    assert kind == 'exit', result
    verbs = [[a for a in c if a in ('add', 'apply', '--config-only')] for c in ipsecmgr.calls
             if 'add' in c or 'apply' in c]
    if check_mode:
        assert verbs == [['add', '--config-only']]
    else:
        assert verbs == [['add', '--config-only'], ['apply']]
    assert result['changed'] is True
    # without a new text there is no file to put back
    kind, result = run_module(fragment.main, dict(name='x'))
    assert kind == 'fail' and 'rm --config-only' in result['msg'], result


def test_text_instead_of_json_is_a_failure_with_ipsecmgrs_words(ipsecmgr):
    ipsecmgr.broken = (2, '', 'ipsecmgr: cannot read /etc/ipsecmgr.conf\n')
    kind, result = run_module(fragment.main, dict(name='x'))
    assert kind == 'fail'
    assert 'cannot read /etc/ipsecmgr.conf' in result['msg']
