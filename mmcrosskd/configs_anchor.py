"""Marks the package folder for mmengine's ``mmcrosskd::`` config prefix (see
:func:`mmcrosskd.utils.config.register_config_scope`). Never imported; only located."""
