# test_diffhw #includes its parts from tests/diffhw/ (one translation unit, so the
# generic tests/test_%.c rule builds it); rebuild it when a part changes.
# Builds nothing extra, so no `all:` line.
$(BUILD)/tests/test_diffhw: $(wildcard tests/diffhw/*.c)
