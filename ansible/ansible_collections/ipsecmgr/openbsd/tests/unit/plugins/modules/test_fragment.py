# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

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


def test_down_only_when_a_tunnel_is_up(ipsecmgr):
    ipsecmgr.fragments = ['x']
    ipsecmgr.answers['apply'] = answer('apply', 'unchanged', message='nothing')
    ipsecmgr.answers['down'] = answer('down', 'done', [dict(kind='fifo', lines=['t p2-x'])])
    kind, result = run_module(fragment.main, dict(name='x', state='down'))
    assert (kind, result['changed']) == ('exit', False)
    ipsecmgr.tunnels['x'] = 'up'
    kind, result = run_module(fragment.main, dict(name='x', state='down'))
    assert (kind, result['changed'], result['commands']) == ('exit', True, ['down x'])


def test_text_instead_of_json_is_a_failure_with_ipsecmgrs_words(ipsecmgr):
    ipsecmgr.broken = (2, '', 'ipsecmgr: cannot read /etc/ipsecmgr.conf\n')
    kind, result = run_module(fragment.main, dict(name='x'))
    assert kind == 'fail'
    assert 'cannot read /etc/ipsecmgr.conf' in result['msg']
