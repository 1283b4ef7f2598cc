# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.ipsecmgr.openbsd.plugins.module_utils.ipsecmgr import (
    IpsecmgrError,
    base_command,
    edits_diff,
    fragment_name_problem,
    key_name_problem,
    parse_document,
    scrubbed,
)


def test_base_command_passes_root_and_config():
    assert base_command(dict(binary='/usr/local/sbin/ipsecmgr', root=None, config=None)) == [
        '/usr/local/sbin/ipsecmgr']
    assert base_command(dict(binary='ipsecmgr', root='/r', config='/c')) == [
        'ipsecmgr', '--root', '/r', '-c', '/c']


def test_only_version_1_is_read():
    assert parse_document('{"version": 1, "fragments": []}', '', 0, [])['fragments'] == []
    with pytest.raises(IpsecmgrError) as e:
        parse_document('{"version": 2}', '', 0, [])
    assert 'unknown version 2' in e.value.msg
    with pytest.raises(IpsecmgrError) as e:
        parse_document('[]', '', 0, [])
    assert 'unknown version None' in e.value.msg


def test_text_is_never_parsed_only_passed_on():
    with pytest.raises(IpsecmgrError) as e:
        parse_document('x is already loaded\n', 'ipsecmgr: rm: no fragment x\n', 1, [])
    assert e.value.msg == 'ipsecmgr failed (exit 1): ipsecmgr: rm: no fragment x'


def test_edits_diff_joins_the_edits_only():
    doc = dict(steps=[dict(kind='edit', diff='A'), dict(kind='fifo', lines=['t']),
                      dict(kind='edit', diff='B')])
    assert edits_diff(doc) == 'AB'


def test_edits_diff_says_what_a_record_holds_in_one_line():
    doc = dict(steps=[dict(kind='edit', path='/etc/ipsec.conf', diff='A'),
                      dict(kind='edit', path='/var/db/ipsecmgr/loaded/x.json',
                           diff='+{"ikes": []}\n', record='what x loaded: 1 connection(s)')])
    assert edits_diff(doc) == (
        'Arecord /var/db/ipsecmgr/loaded/x.json: what x loaded: 1 connection(s)\n')


def test_fragment_names_follow_ipsecmgrs_rule():
    for good in ['customer-acme', 'sub/acme', 'a.b_c-1', 'x' * 128]:
        assert fragment_name_problem(good) is None, good
    for bad in ['', '/etc/ipsec', '../x', 'sub/../x', '-x', '.x', 'x.conf', 'x.CONF',
                'x\n', 'x y', 'sub//x', 'x' * 129, 'caf\u00e9']:
        assert fragment_name_problem(bad), bad


def test_key_names_follow_ipsecmgrs_rule():
    for good in ['customer_acme_psk', 'ACME', '_', '0key', 'x' * 64]:
        assert key_name_problem(good) is None, good
    for bad in ['', 'acme-psk', 'acme psk', '$acme', 'acme\n', 'x' * 65, 'caf\u00e9', '../x',
                '-n', 'a.b', 'a/b']:
        assert key_name_problem(bad), bad


def test_scrubbed_takes_the_secret_out_of_every_string():
    doc = {'s': 'a SECRET b', 'SECRET': ['SECRET', 1, None, True, {'k': b'x SECRET'}]}
    assert scrubbed(doc, 'SECRET') == {
        's': 'a <redacted> b', '<redacted>': ['<redacted>', 1, None, True, {'k': b'x <redacted>'}]}
    assert scrubbed('SECRET', '') == 'SECRET'
