// A fixture for DocLinksCatchAWrongLine.
int unrelated_line = 0;
void backward() {}
