# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)
"""The modules' documentation says what their argument specs take: what
validate-modules checks, here without its network-installed environment."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest
import yaml

from ansible.module_utils import basic
from ansible_collections.ipsecmgr.openbsd.plugins.doc_fragments import common
from ansible_collections.ipsecmgr.openbsd.plugins.modules import fragment, info, key

MODULES = [fragment, info, key]
FRAGMENTS = {'ipsecmgr.openbsd.common': common.ModuleDocFragment}


def documented_options(module):
    """The module's options, with those of the documentation fragments it
    extends (as ansible-doc merges them)."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = dict(doc['options'])
    for name in doc.get('extends_documentation_fragment', []):
        fragment_doc = yaml.safe_load(FRAGMENTS[name].DOCUMENTATION)
        for option, text in fragment_doc['options'].items():
            assert option not in options, (name, option)
            options[option] = text
    return options


def argument_spec_of(module, monkeypatch):
    """The argument_spec the module hands AnsibleModule."""
    seen = {}

    class Stop(Exception):
        pass

    def capture(self, argument_spec, **kwargs):
        seen.update(argument_spec=argument_spec, kwargs=kwargs)
        raise Stop()

    monkeypatch.setattr(basic.AnsibleModule, '__init__', capture)
    with pytest.raises(Stop):
        module.main()
    return seen['argument_spec'], seen['kwargs']


@pytest.mark.parametrize('module', MODULES)
def test_documented_options_are_the_argument_spec(module, monkeypatch):
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = documented_options(module)
    spec, kwargs = argument_spec_of(module, monkeypatch)
    assert sorted(options) == sorted(spec)
    for name, option in options.items():
        arg = spec[name]
        assert option['type'] == arg['type'], name
        assert option.get('required', False) == arg.get('required', False), name
        assert option.get('default') == arg.get('default'), name
        assert option.get('choices') == arg.get('choices'), name
        # what is never logged says so
        if arg.get('no_log'):
            text = option['description']
            if isinstance(text, list):
                text = ' '.join(text)
            assert 'never logged' in text.lower(), name
    assert kwargs['supports_check_mode'] is True
    assert doc['attributes']['check_mode']['support'] == 'full'
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)


def test_every_module_is_documented_and_tested_here():
    modules = os.path.dirname(fragment.__file__)
    names = sorted(f[:-3] for f in os.listdir(modules)
                   if f.endswith('.py') and not f.startswith('_'))
    assert names == sorted(m.__name__.rsplit('.', 1)[1] for m in MODULES)


def test_examples_use_documented_options_only():
    for module in MODULES:
        fqcn = 'ipsecmgr.openbsd.' + module.__name__.rsplit('.', 1)[1]
        options = set(documented_options(module))
        for task in yaml.safe_load(module.EXAMPLES):
            if fqcn in task:
                assert set(task[fqcn] or {}) <= options, task
