"""dynahate.inference: the base model and adapter loaded as training had them, and the engines that label posts.

Loading (a local run or a Hub repo), the engine interface and the two engines (score, generate),
the token budget, the precision, the options shared by the commands that load an adapter, and
``dynahate predict``. It imports only ``dynahate.core`` and ``dynahate.plugin``; ``eval``,
``hatecheck``, ``predict`` and ``serve`` use it.
"""
