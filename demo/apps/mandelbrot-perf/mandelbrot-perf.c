/* mandelbrot-perf: a 120x60 Mandelbrot set with musl's libm. */
#include <math.h>
#include "ukapp.h"
const char app_name[] = "mandelbrot-perf";
unsigned long app_main(const char **name)
{
	*name = app_name;
	unsigned long h = 0;
	for (int y = 0; y < 60; y++)
		for (int x = 0; x < 120; x++) {
			double cr = -2.0 + x * 3.0 / 120, ci = -1.2 + y * 2.4 / 60, zr = 0, zi = 0;
			int k = 0;
			while (k < 200 && hypot(zr, zi) < 2.0) {
				double t = zr * zr - zi * zi + cr;
				zi = 2 * zr * zi + ci;
				zr = t;
				k++;
			}
			h = h * 31 + (unsigned long)k + (unsigned long)floor(log1p(fabs(zr)) * 8);
		}
	return h;
}
