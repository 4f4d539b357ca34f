#!/usr/bin/env node
import "../dist/host/cli/xm.js";
