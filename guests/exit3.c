/* Exits with status 3 through the runtime's exit() (port 0xF4), not through main's return. */
#include "rt.h"

int main(void)
{
	puts("exiting with status 3");
	exit(3);
}
