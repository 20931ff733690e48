/* symtarget.c — test helper for the symbolizer: a process with known code addresses.
 * usage: symtarget [LIB.so SYMBOL]
 * Prints "NAME 0xADDR" lines for known_function_alpha, known_function_beta
 * (static), libc's read (and SYMBOL of LIB.so, dlopen'ed, as "so"), the source
 * line of known_function_alpha as "alpha_line N", then "ready", and blocks in
 * pause() until killed. */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int known_function_alpha(int x);

static const int alpha_line = __LINE__ + 2;
__attribute__((noinline)) int
known_function_alpha(int x)
{
	volatile int acc = x;
	for (int i = 0; i < x; i++)
		acc = acc * 31 + i;
	return acc;
}

__attribute__((noinline)) static long known_function_beta(long a, long b)
{
	volatile long r = a ^ (b << 3);
	return r + a * b;
}

int main(int argc, char **argv)
{
	/* through volatile pointers so both stay out-of-line and referenced */
	int (*volatile fa)(int) = known_function_alpha;
	long (*volatile fb)(long, long) = known_function_beta;
	/* RTLD_NEXT: libc's own read, not a non-PIE executable's canonical PLT stub */
	void *rd = dlsym(RTLD_NEXT, "read");
	printf("alpha %p\nbeta %p\nread %p\nalpha_line %d\n", (void *)fa, (void *)fb, rd,
	       alpha_line);
	if (argc > 2) {
		void *h = dlopen(argv[1], RTLD_NOW);
		void *f = h ? dlsym(h, argv[2]) : NULL;
		printf("so %p\n", f);
	}
	printf("ready %d\n", fa(3) + (int)fb(1, 2));
	fflush(stdout);
	for (;;)
		pause();
}
