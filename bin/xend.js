#!/usr/bin/env node
import "../dist/host/cli/xend.js";
