// SPDX-License-Identifier: GPL-3.0-or-later
// The one Catch2 v2 main every unit-test executable links.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
