package helm

import "path/filepath"

var chartDir = filepath.Join("..", "..", "charts", "cascadeflow-operator")
