# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

"""Running the ipsecmgr binary on the target and reading its JSON.

Every ipsecmgr document has a "version" field; this code reads version 1
(schemas/ipsecmgr.schema.json in the ipsecmgr repository).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

SCHEMA_VERSION = 1

# ipsecmgr's rule for a fragment name (the manual's FRAGMENT NAMES): each
# part of `sub/acme` letters, digits, '.', '_' and '-', not starting with
# '-' or '.', at most 128 bytes, not ending in '.conf' in any case.
NAME_MAX_BYTES = 128
_NAME_PART = re.compile(r'\A[A-Za-z0-9_][A-Za-z0-9._-]*\Z')

# ipsecmgr's rule for a key name (settings.rs: is_key_name): what
# ipsecctl's lexer reads after `$`, letters, digits and '_', at most 64.
KEY_NAME_MAX = 64
_KEY_NAME = re.compile(r'\A[A-Za-z0-9_]+\Z')

COMMON_ARGS = dict(
    binary=dict(type='path', default='ipsecmgr'),
    root=dict(type='path'),
    config=dict(type='path'),
)


class IpsecmgrError(Exception):
    """ipsecmgr could not be run, or printed what this code cannot read."""

    def __init__(self, msg, **details):
        super(IpsecmgrError, self).__init__(msg)
        self.msg = msg
        self.details = details


def fragment_name_problem(name):
    """Why ipsecmgr would refuse `name` as a fragment name, or None."""
    if not name:
        return 'empty fragment name'
    shown = repr(name)
    for part in name.split('/'):
        if not _NAME_PART.match(part):
            return ('%s: not a fragment name: each part (of sub/name) holds only letters, '
                    'digits, ".", "_" and "-", and starts with neither "-" nor "."' % shown)
        if len(part.encode('utf-8')) > NAME_MAX_BYTES:
            return '%s: a fragment name is at most %d bytes long' % (shown, NAME_MAX_BYTES)
        if part.lower().endswith('.conf'):
            return '%s: a fragment name is the file name without ".conf"' % shown
    return None


def key_name_problem(name):
    """Why ipsecmgr would refuse `name` as a key macro's name, or None."""
    if not name:
        return 'empty key name'
    if not _KEY_NAME.match(name):
        return ('%r: not a key name: it holds only letters, digits and "_" (a macro name, '
                'as declared in the settings\' [keys] names)' % (name,))
    if len(name) > KEY_NAME_MAX:
        return '%r: a key name is at most %d characters long' % (name, KEY_NAME_MAX)
    return None


def base_command(params):
    """The ipsecmgr command line up to the subcommand."""
    cmd = [params['binary']]
    if params.get('root'):
        cmd += ['--root', params['root']]
    if params.get('config'):
        cmd += ['-c', params['config']]
    return cmd


def parse_document(stdout, stderr, rc, cmd):
    """The JSON document ipsecmgr printed, checked for its version."""
    try:
        doc = json.loads(stdout)
    except ValueError:
        msg = stderr.strip() or stdout.strip() or 'no output'
        raise IpsecmgrError(
            'ipsecmgr failed (exit %d): %s' % (rc, msg), rc=rc, stderr=stderr, cmd=cmd)
    if not isinstance(doc, dict) or doc.get('version') != SCHEMA_VERSION:
        raise IpsecmgrError(
            'ipsecmgr printed JSON of an unknown version %r (this collection reads %d)'
            % (doc.get('version') if isinstance(doc, dict) else None, SCHEMA_VERSION),
            rc=rc, cmd=cmd)
    return doc


def run_json(module, args, data=None):
    """Runs ipsecmgr with `args`, and `data` as its standard input, as it
    is (no line end added); returns (rc, document, stderr)."""
    cmd = base_command(module.params) + list(args)
    if data is None:
        rc, stdout, stderr = module.run_command(cmd)
    else:
        rc, stdout, stderr = module.run_command(cmd, data=data, binary_data=True)
    return rc, parse_document(stdout, stderr, rc, cmd), stderr


def run_listing(module, args):
    """A read-only command whose failure is an error."""
    rc, doc, stderr = run_json(module, args)
    if rc != 0:
        raise IpsecmgrError(
            'ipsecmgr %s failed (exit %d): %s' % (' '.join(args), rc, stderr.strip()), rc=rc)
    return doc


def edits_diff(doc):
    """The unified diffs of a plan's file edits, one after the other; an
    edit of one of ipsecmgr's own records is one line saying what it
    records, as the text plan shows it."""
    out = []
    for step in doc.get('steps', []):
        if step.get('kind') != 'edit':
            continue
        if step.get('record'):
            out.append('record %s: %s\n' % (step['path'], step['record']))
        else:
            out.append(step['diff'])
    return ''.join(out)


def scrubbed(value, secret, shown='<redacted>'):
    """`value` (a document, a list, a string) with every occurrence of
    `secret` in its strings, keys included, replaced by `shown`."""
    if not secret:
        return value
    if isinstance(value, dict):
        return dict((scrubbed(k, secret, shown), scrubbed(v, secret, shown))
                    for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [scrubbed(v, secret, shown) for v in value]
    if isinstance(value, bytes):
        return value.replace(secret.encode('utf-8'), shown.encode('utf-8'))
    if isinstance(value, type(u'')):
        return value.replace(secret, shown)
    return value
