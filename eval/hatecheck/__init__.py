"""dynahate.eval.hatecheck: HateCheck's functional tests (Röttger et al., ACL 2021), ``dynahate hatecheck``.

``data``: find, verify and read ``test_suite_cases.csv``; ``results``: per functional test and per
target group, the predictions lines and the plot; ``cli``: the command.
"""
