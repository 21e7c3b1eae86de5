/* matrix-perf: dense 64x64 matrix products in doubles, results rounded by musl's libm. */
#include <math.h>
#include "ukapp.h"
const char app_name[] = "matrix-perf";
#define N 64
static double a[N][N], b[N][N], c[N][N];
unsigned long app_main(const char **name)
{
	*name = app_name;
	unsigned long h = 0;
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++)
			a[i][j] = sin(i + j), b[i][j] = cos(i - j);
	for (int r = 0; r < 4; r++) {
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++) {
				double s = 0;
				for (int k = 0; k < N; k++)
					s += a[i][k] * b[k][j];
				c[i][j] = s;
			}
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++)
				a[i][j] = c[i][j] / N;
	}
	for (int i = 0; i < N; i++)
		h = h * 31 + (unsigned long)(long)lround(c[i][i] * 1e6);
	return h;
}
