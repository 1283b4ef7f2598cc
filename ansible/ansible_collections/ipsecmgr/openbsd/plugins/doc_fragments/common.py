# -*- coding: utf-8 -*-
# Copyright: ipsecmgr contributors
# MIT License (see https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """The options every module of the collection takes (COMMON_ARGS in
    module_utils): where ipsecmgr is and which gateway it works on."""

    DOCUMENTATION = r'''
options:
  binary:
    description: The ipsecmgr program on the target.
    type: path
    default: ipsecmgr
  root:
    description:
      - Passed as C(--root); every path of the gateway is taken under it (for tests and
        checkouts).
    type: path
  config:
    description: ipsecmgr's settings file, passed as C(-c).
    type: path
'''
